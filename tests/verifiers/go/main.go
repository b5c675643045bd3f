// An "other service" that verifies Tessera access tokens offline, with go-oidc (Debian's
// golang-github-coreos-go-oidc-dev, v2) and net/http. tests/api/verifiers.rs starts it
// against a running Tessera; the middleware below is the recipe in docs/verifying.md.
// Build it offline with build.sh (GOPATH mode, Debian's Go packages only).
//
// Environment:
//
//	TESSERA_URL       Tessera's public URL (required); it must equal the discovery issuer
//	TESSERA_AUDIENCE  the expected `aud` (default "tessera")
//	PORT              port to listen on, 127.0.0.1 only (default 0: any free port)
//
// Prints exactly one line `listening <port>` on stdout once it accepts connections.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	oidc "github.com/coreos/go-oidc"
	jose "gopkg.in/square/go-jose.v2"
)

// ---------------------------------------------------------------------------------------
// The recipe: copy from here to the end of TesseraAuth().

// TesseraClaims are the claims of a Tessera access token that this service uses.
type TesseraClaims struct {
	Sub string `json:"sub"`
	Sid string `json:"sid"`
	Iat int64  `json:"iat"`
	Exp int64  `json:"exp"`
	Kid string `json:"-"` // from the protected header
}

type claimsKey struct{}

// ClaimsFrom returns the claims TesseraAuth put in the request's context.
func ClaimsFrom(ctx context.Context) *TesseraClaims {
	c, _ := ctx.Value(claimsKey{}).(*TesseraClaims)
	return c
}

// AccessCookie is exactly the one name Tessera sets: `__Host-tessera-token` when its
// cookies are Secure with no Domain, `tessera-token` with TESSERA_COOKIE_DOMAIN or
// TESSERA_COOKIE_SECURE=false. Never both: a sibling subdomain could inject the other one.
var AccessCookie = envOr("TESSERA_ACCESS_COOKIE", "__Host-tessera-token")

func envOr(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

// TokenFromRequest returns the access token: `Authorization: Bearer` first, else the
// access cookie.
func TokenFromRequest(r *http.Request) string {
	if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok &&
		strings.EqualFold(scheme, "bearer") && strings.TrimSpace(token) != "" {
		return strings.TrimSpace(token)
	}
	if c, err := r.Cookie(AccessCookie); err == nil && c.Value != "" {
		return c.Value
	}
	return ""
}

// NewTesseraVerifier reads Tessera's discovery document and returns a verifier that
// lives as long as the process (its key set cache must stay warm). go-oidc requires the
// discovery `issuer` to equal the URL passed here, byte for byte.
func NewTesseraVerifier(ctx context.Context, tesseraURL, audience string) (*oidc.IDTokenVerifier, error) {
	provider, err := oidc.NewProvider(ctx, strings.TrimSuffix(tesseraURL, "/"))
	if err != nil {
		return nil, err
	}
	return provider.Verifier(&oidc.Config{
		ClientID:             audience,          // checked against `aud`
		SupportedSigningAlgs: []string{"ES256"}, // never anything else
		// go-oidc v2 allows no leeway on `exp`: run its clock 60 s behind instead.
		Now: func() time.Time { return time.Now().Add(-60 * time.Second) },
	}), nil
}

// TesseraAuth is net/http middleware: it verifies the request's Tessera access token and
// puts its claims in the request context (ClaimsFrom), or answers 401 `invalid-token`.
func TesseraAuth(verifier *oidc.IDTokenVerifier, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw := TokenFromRequest(r)
		if raw == "" {
			unauthorized(w, "no access token (Authorization: Bearer or the access cookie)")
			return
		}
		// Tessera tokens are compact JWS that name their key: without a kid, go-oidc
		// would try every cached key instead.
		jws, err := jose.ParseSigned(raw)
		if err != nil || strings.Count(raw, ".") != 2 || len(jws.Signatures) != 1 ||
			jws.Signatures[0].Header.KeyID == "" {
			unauthorized(w, "the access token is invalid")
			return
		}
		// Checks iss, aud, exp and the algorithm, then the signature with the key of that
		// kid from the cached JWKS (refetched on an unknown kid when the cache is within
		// 30 s of its Cache-Control expiry).
		token, err := verifier.Verify(r.Context(), raw)
		if err != nil {
			if strings.Contains(err.Error(), "fetching keys") {
				// The key set could not be fetched: Tessera's fault, not the token's.
				writeJSON(w, http.StatusServiceUnavailable, "service-unavailable", "the key set could not be fetched")
				return
			}
			if strings.Contains(err.Error(), "token is expired") {
				unauthorized(w, "the access token has expired; refresh it first")
				return
			}
			// Fixed texts only: never the token, nor anything copied out of it.
			unauthorized(w, "the access token is invalid")
			return
		}
		var claims TesseraClaims
		if err := token.Claims(&claims); err != nil || claims.Sub == "" || claims.Sid == "" ||
			claims.Iat == 0 || claims.Exp == 0 {
			unauthorized(w, "the access token lacks sub, sid, iat or exp")
			return
		}
		claims.Kid = jws.Signatures[0].Header.KeyID
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, &claims)))
	})
}

func unauthorized(w http.ResponseWriter, message string) {
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	writeJSON(w, http.StatusUnauthorized, "invalid-token", message)
}

func writeJSON(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "error": code, "message": message})
}

// End of the recipe.
// ---------------------------------------------------------------------------------------

func main() {
	tesseraURL := os.Getenv("TESSERA_URL")
	if tesseraURL == "" {
		fmt.Fprintln(os.Stderr, "TESSERA_URL is required")
		os.Exit(2)
	}
	audience := os.Getenv("TESSERA_AUDIENCE")
	if audience == "" {
		audience = "tessera"
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "0"
	}

	// Discovery, retried for a while in case Tessera is still starting. The context
	// stays alive for the process: go-oidc's key set uses it for every later fetch.
	var verifier *oidc.IDTokenVerifier
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if verifier, err = NewTesseraVerifier(context.Background(), tesseraURL, audience); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot read the discovery document of %s: %v\n", tesseraURL, err)
		os.Exit(1)
	}

	mux := http.NewServeMux()
	mux.Handle("/me", TesseraAuth(verifier, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeJSON(w, http.StatusMethodNotAllowed, "method-not-allowed", "method not allowed")
			return
		}
		c := ClaimsFrom(r.Context())
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"sub": c.Sub, "sid": c.Sid, "kid": c.Kid})
	})))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, "not-found", "no such route")
	})

	listener, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot listen: %v\n", err)
		os.Exit(1)
	}
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("listening %d\n", listener.Addr().(*net.TCPAddr).Port) // stdout is unbuffered in Go

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = server.Shutdown(shutdown)
	}()
	if err := server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(os.Stderr, "serve: %v\n", err)
		os.Exit(1)
	}
}
