"""A confidential relying party on Authlib (requests client), as an app signing its users in
at Tessera would be written: endpoints from discovery, client_secret_basic, PKCE S256,
the ID token validated with the JWKS the way Authlib's own OpenID client does it
(joserfc's jwt.decode, then Authlib's CodeIDToken claims: iss, aud, exp, nonce, at_hash),
userinfo, introspection and revocation. Nothing Tessera-specific but the approval at
POST /oauth2/login, where it stands in for the user at the login page.
tests/api/oauth2_rps.rs runs it and asserts on what it prints.

Environment: TESSERA_URL (the issuer), CLIENT_ID, CLIENT_SECRET, REDIRECT_URI (never
fetched), ACCESS_TOKEN (the user's Tessera access token, to approve at /oauth2/login),
OTHER_CLIENT_ID and OTHER_CLIENT_SECRET (a second confidential client, for the refusals).

Prints one JSON object a line, {"check": "...", ...facts}, and exits 0; on any surprise it
prints {"error": "..."} and exits 1.
"""

import json
import os
import sys
from urllib.parse import parse_qs, urljoin, urlsplit

# Authlib refuses http endpoints unless told; Tessera runs on loopback http in the tests.
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

import requests  # noqa: E402
from authlib.common.security import generate_token  # noqa: E402
from authlib.integrations.requests_client import OAuth2Session  # noqa: E402
from authlib.integrations.requests_client import OAuthError  # noqa: E402
from authlib.oidc.core import CodeIDToken  # noqa: E402
from joserfc import jwt  # noqa: E402
from joserfc.jwk import KeySet  # noqa: E402
from joserfc.jws import JWSRegistry  # noqa: E402


def report(check, **facts):
    print(json.dumps({"check": check, **facts}), flush=True)


def fail(message):
    print(json.dumps({"error": message}), flush=True)
    sys.exit(1)


def expect(condition, message):
    if not condition:
        fail(message)


def env(name):
    value = os.environ.get(name)
    if not value:
        fail(f"{name} is required")
    return value


ISSUER = env("TESSERA_URL")
CLIENT_ID = env("CLIENT_ID")
CLIENT_SECRET = env("CLIENT_SECRET")
REDIRECT_URI = env("REDIRECT_URI")
USER_TOKEN = env("ACCESS_TOKEN")
SCOPE = "openid profile email offline_access"

metadata = requests.get(f"{ISSUER.rstrip('/')}/.well-known/openid-configuration", timeout=10)
metadata.raise_for_status()
metadata = metadata.json()
expect(metadata["issuer"] == ISSUER, f"discovery issuer {metadata['issuer']} is not {ISSUER}")
expect(
    "client_secret_basic" in metadata["token_endpoint_auth_methods_supported"],
    "client_secret_basic is not offered",
)
jwks = requests.get(metadata["jwks_uri"], timeout=10)
jwks.raise_for_status()
KEYS = KeySet.import_key_set(jwks.json())


def session(client_id, client_secret):
    return OAuth2Session(
        client_id,
        client_secret,
        scope=SCOPE,
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
        revocation_endpoint_auth_method="client_secret_basic",
    )


def sign_in(client):
    """Authorization URL, the browser's hop to the login page, the user's approval, and the
    code exchange. Answers the token and the nonce the app kept."""
    code_verifier = generate_token(48)
    nonce = generate_token(20)
    url, state = client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=code_verifier, nonce=nonce
    )
    hop = requests.get(url, allow_redirects=False, timeout=10)
    expect(hop.status_code == 302, f"/oauth2/authorize answered {hop.status_code}: {hop.text}")
    request_id = parse_qs(urlsplit(hop.headers["location"]).query).get("request_id", [None])[0]
    expect(request_id, f"no request_id in {hop.headers['location']}")
    approval = requests.post(
        urljoin(ISSUER + "/", "oauth2/login"),
        json={"requestId": request_id},
        headers={"authorization": f"Bearer {USER_TOKEN}"},
        timeout=10,
    )
    expect(approval.status_code == 200, f"POST /oauth2/login: {approval.status_code} {approval.text}")
    callback = approval.json()["redirectUri"]
    returned = parse_qs(urlsplit(callback).query)
    expect(returned.get("iss") == [ISSUER], f"the callback's iss is {returned.get('iss')}")
    token = client.fetch_token(
        metadata["token_endpoint"],
        authorization_response=callback,
        state=state,
        code_verifier=code_verifier,
    )
    return token, nonce


def id_token_claims(token, nonce, client_id):
    """What Authlib's OpenID client does with an ID token (parse_id_token): signature by the
    JWKS with the discovered algorithms, then the OpenID claims."""
    decoded = jwt.decode(
        token["id_token"],
        key=KEYS,
        registry=JWSRegistry(algorithms=metadata["id_token_signing_alg_values_supported"]),
    )
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        {
            "iss": {"essential": True, "value": ISSUER},
            "aud": {"essential": True, "value": client_id},
        },
        {"nonce": nonce, "client_id": client_id, "access_token": token["access_token"]},
    )
    claims.validate()
    return claims, decoded.header


def introspect(client, token):
    response = client.introspect_token(metadata["introspection_endpoint"], token=token)
    expect(response.status_code == 200, f"introspection: {response.status_code} {response.text}")
    return response.json()


client = session(CLIENT_ID, CLIENT_SECRET)
token, nonce = sign_in(client)
claims, header = id_token_claims(token, nonce, CLIENT_ID)
report(
    "id_token",
    sub=claims["sub"],
    email=claims.get("email"),
    iss=claims["iss"],
    aud=claims["aud"],
    alg=header["alg"],
    nonce=claims.get("nonce") == nonce,
    atHash="at_hash" in claims,
    scope=token.get("scope"),
)

# The session carries the token: userinfo as an API call of the app.
userinfo = client.get(metadata["userinfo_endpoint"])
expect(userinfo.status_code == 200, f"userinfo: {userinfo.status_code} {userinfo.text}")
userinfo = userinfo.json()
report("userinfo", sub=userinfo["sub"], email=userinfo.get("email"))

# A different audience is refused by the same claims validation.
try:
    id_token_claims(token, nonce, "someone-else")
    fail("the ID token passed for another client")
except Exception as err:  # joserfc's InvalidClaimError
    report("aud-refused", reason=type(err).__name__)

access = introspect(client, token["access_token"])
refresh = introspect(client, token["refresh_token"])
report(
    "introspect",
    access=access,
    refresh=refresh,
)

# Another confidential client learns nothing about this client's tokens, nor can revoke them.
other = session(env("OTHER_CLIENT_ID"), env("OTHER_CLIENT_SECRET"))
foreign = introspect(other, token["access_token"])
other.revoke_token(metadata["revocation_endpoint"], token=token["refresh_token"])
still = introspect(client, token["refresh_token"])
report("foreign", introspected=foreign, stillActive=still.get("active"))

# A wrong secret is refused at the token endpoint (401 invalid_client).
wrong = session(CLIENT_ID, CLIENT_SECRET + "x")
try:
    wrong.refresh_token(metadata["token_endpoint"], refresh_token=token["refresh_token"])
    fail("a wrong client secret was accepted")
except OAuthError as err:
    report("wrong-secret", error=err.error)

# Refresh through Authlib rotates the refresh token.
refreshed = client.refresh_token(metadata["token_endpoint"], refresh_token=token["refresh_token"])
expect(refreshed["refresh_token"] != token["refresh_token"], "the refresh token did not rotate")
report(
    "refresh",
    rotated=True,
    oldActive=introspect(client, token["refresh_token"])["active"],
    newActive=introspect(client, refreshed["refresh_token"])["active"],
)

# Revocation (RFC 7009) ends the grant: both of its tokens go inactive.
revoked = client.revoke_token(metadata["revocation_endpoint"], token=refreshed["refresh_token"])
expect(revoked.status_code == 200, f"revocation: {revoked.status_code} {revoked.text}")
report(
    "revoked",
    refresh=introspect(client, refreshed["refresh_token"])["active"],
    access=introspect(client, refreshed["access_token"])["active"],
    userinfo=client.get(
        metadata["userinfo_endpoint"],
        headers={"authorization": f"Bearer {refreshed['access_token']}"},
        withhold_token=True,
    ).status_code,
)
try:
    client.refresh_token(metadata["token_endpoint"], refresh_token=refreshed["refresh_token"])
    fail("a revoked refresh token was accepted")
except OAuthError as err:
    report("refresh-after-revoke", error=err.error)

report("done")
