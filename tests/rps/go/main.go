// A relying party's back end on go-oidc (Debian's golang-github-coreos-go-oidc-dev, v2):
// given the ID token an app received from Tessera's token endpoint, it verifies it as
// go-oidc's README says (discovery, then provider.Verifier), checks at_hash against the
// access token, reads userinfo with that access token, and refuses an ID token Tessera
// issued to another app. tests/api/oauth2_rps.rs runs it; build.sh builds it offline.
//
// Environment:
//
//	TESSERA_URL        the issuer (Tessera's public URL, exactly as in discovery)
//	CLIENT_ID          this app's client id (the expected audience)
//	ID_TOKEN           an ID token issued to CLIENT_ID
//	ACCESS_TOKEN       the access token issued with it
//	FOREIGN_ID_TOKEN   an ID token issued to another client, for the same user
//
// Prints one JSON object a line, {"check": "...", ...facts}, and exits 0; on any surprise
// it prints {"error": "..."} and exits 1.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	oidc "github.com/coreos/go-oidc"
	"golang.org/x/oauth2"
)

func report(check string, facts map[string]interface{}) {
	facts["check"] = check
	line, _ := json.Marshal(facts)
	fmt.Println(string(line))
}

func fail(format string, args ...interface{}) {
	line, _ := json.Marshal(map[string]string{"error": fmt.Sprintf(format, args...)})
	fmt.Println(string(line))
	os.Exit(1)
}

func env(name string) string {
	value := os.Getenv(name)
	if value == "" {
		fail("%s is required", name)
	}
	return value
}

func main() {
	issuer := env("TESSERA_URL")
	clientID := env("CLIENT_ID")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	provider, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		fail("discovery: %v", err)
	}
	// go-oidc v2 assumes RS256 unless told; the algorithms come from discovery, as an
	// app would read them.
	var discovery struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := provider.Claims(&discovery); err != nil {
		fail("discovery claims: %v", err)
	}
	verifier := provider.Verifier(&oidc.Config{
		ClientID:             clientID,
		SupportedSigningAlgs: discovery.Algs,
	})

	token, err := verifier.Verify(ctx, env("ID_TOKEN"))
	if err != nil {
		fail("the app's own ID token was refused: %v", err)
	}
	accessToken := env("ACCESS_TOKEN")
	if err := token.VerifyAccessToken(accessToken); err != nil {
		fail("at_hash: %v", err)
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
		Nonce         string `json:"nonce"`
	}
	if err := token.Claims(&claims); err != nil {
		fail("claims: %v", err)
	}
	report("verified", map[string]interface{}{
		"sub":      token.Subject,
		"email":    claims.Email,
		"issuer":   token.Issuer,
		"audience": token.Audience,
		"nonce":    claims.Nonce,
		"algs":     discovery.Algs,
	})

	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: accessToken}))
	if err != nil {
		fail("userinfo: %v", err)
	}
	report("userinfo", map[string]interface{}{"sub": info.Subject, "email": info.Email})

	// The same user's ID token, but issued to another app: never this app's sign-in.
	if _, err := verifier.Verify(ctx, env("FOREIGN_ID_TOKEN")); err == nil {
		fail("an ID token issued to another client was accepted")
	} else {
		report("foreign-refused", map[string]interface{}{"reason": err.Error()})
	}
	report("done", map[string]interface{}{})
}
