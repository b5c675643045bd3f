"""An "other service" that verifies Tessera access tokens offline, with PyJWT and Flask.

tests/api/verifiers.rs starts it against a running Tessera; the decorator below is the
recipe in docs/verifying.md.

Environment:
  TESSERA_URL            Tessera's public URL (required); discovery is read from it
  TESSERA_AUDIENCE       the expected `aud` (default "tessera")
  PORT                   port to listen on, 127.0.0.1 only (default 0: any free port)
  JWKS_COOLDOWN_SECONDS  least time between two JWKS fetches caused by an unknown `kid`
                         (default 30, PyJWT's own default; tests set it low)

Prints exactly one line `listening <port>` on stdout once it accepts connections.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import sys
import threading
import time
import urllib.request

import jwt
from flask import Flask, g, jsonify, request
from werkzeug.serving import make_server

# One access-log line per request is noise for the tests that drive this service.
logging.getLogger("werkzeug").setLevel(logging.WARNING)

# ---------------------------------------------------------------------------------------
# The recipe: copy from here to the end of require_tessera_token().

# Exactly the one name Tessera sets: `__Host-tessera-token` when its cookies are Secure
# with no Domain, `tessera-token` with TESSERA_COOKIE_DOMAIN or TESSERA_COOKIE_SECURE=false.
# Never both: a sibling subdomain could inject the other one.
ACCESS_COOKIE = os.environ.get("TESSERA_ACCESS_COOKIE", "__Host-tessera-token")


def token_from_request(req) -> str | None:
    """The access token of a request: `Authorization: Bearer` first, else the access cookie."""
    authorization = req.headers.get("Authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return req.cookies.get(ACCESS_COOKIE) or None


def _unauthorized(message: str):
    response = jsonify(status=401, error="invalid-token", message=message)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


def require_tessera_token(jwks_client: jwt.PyJWKClient, issuer: str, audience: str = "tessera"):
    """Flask decorator: verifies the request's Tessera access token and puts its claims in
    `flask.g.tessera_claims` (and the kid in `g.tessera_kid`), or answers 401 `invalid-token`.

    `jwks_client` must be created once per process: it caches the key set and, on an
    unknown `kid`, refetches it once (at most once per `cooldown_duration`),
    which is how a rotated-in key is picked up.
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            token = token_from_request(request)
            if not token:
                return _unauthorized("no access token (Authorization: Bearer or the access cookie)")
            try:
                # Reads the unverified header's kid; refetches the JWKS on an unknown kid.
                signing_key = jwks_client.get_signing_key_from_jwt(token)
                claims = jwt.decode(
                    token,
                    signing_key.key,
                    algorithms=["ES256"],  # never anything else: no `none`, no HS256
                    audience=audience,
                    issuer=issuer,
                    leeway=60,  # seconds of clock skew allowed on exp
                    options={"require": ["exp", "iat", "iss", "aud", "sub", "sid"]},
                )
            except jwt.PyJWKClientConnectionError:
                # The key set cannot be fetched: Tessera's fault, not the token's.
                response = jsonify(
                    status=503, error="service-unavailable", message="the key set could not be fetched"
                )
                response.status_code = 503
                return response
            except jwt.ExpiredSignatureError:
                return _unauthorized("the access token has expired; refresh it first")
            except jwt.InvalidAlgorithmError:
                return _unauthorized("algorithm not allowed (ES256 only)")
            except jwt.PyJWKClientError:
                return _unauthorized("signed by a key not in the key set")
            except jwt.MissingRequiredClaimError as err:
                return _unauthorized(f'claim "{err.claim}" is missing')
            except jwt.InvalidAudienceError:
                return _unauthorized('claim "aud" check failed')
            except jwt.InvalidIssuerError:
                return _unauthorized('claim "iss" check failed')
            except jwt.PyJWTError:
                # Fixed texts only: never the token, nor anything copied out of it.
                return _unauthorized("the access token is invalid")
            if not isinstance(claims.get("sub"), str) or not isinstance(claims.get("sid"), str):
                return _unauthorized("the access token lacks sub or sid")
            g.tessera_claims = claims
            g.tessera_kid = jwt.get_unverified_header(token).get("kid")
            return view(*args, **kwargs)

        return wrapper

    return decorator


# End of the recipe.
# ---------------------------------------------------------------------------------------


def discover(tessera_url: str) -> dict:
    """Reads Tessera's discovery document, retrying for a while if Tessera is still starting."""
    url = tessera_url.rstrip("/") + "/.well-known/openid-configuration"
    last_error: Exception | None = None
    for _ in range(50):
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                doc = json.load(response)
            if not isinstance(doc.get("issuer"), str) or not isinstance(doc.get("jwks_uri"), str):
                raise ValueError("the discovery document lacks issuer or jwks_uri")
            return doc
        except Exception as err:  # noqa: BLE001 - retried, then reported
            last_error = err
            time.sleep(0.2)
    raise SystemExit(f"cannot read {url}: {last_error}")


def create_app(tessera_url: str, audience: str, cooldown: float | None) -> Flask:
    doc = discover(tessera_url)
    # One client for the life of the process, so its cache stays warm across requests.
    # PyJWT 2.15.1 (jwt/jwks_client.py, PyJWKClient.get_signing_key): when the kid is not
    # in the cached set, it refetches the set once (get_signing_keys(refresh=True)) unless
    # the last successful fetch was less than `cooldown_duration` (default 30 s) ago. So a
    # newly published key is picked up on its first token; nothing more is needed here.
    # The set itself is cached for `lifespan` (default 300 s), then fetched again.
    # (Pin PyJWT: older releases differ here; the cooldown in particular is recent.)
    kwargs = {} if cooldown is None else {"cooldown_duration": cooldown}
    jwks_client = jwt.PyJWKClient(doc["jwks_uri"], cache_jwk_set=True, lifespan=300, timeout=5, **kwargs)
    auth = require_tessera_token(jwks_client, issuer=doc["issuer"], audience=audience)

    app = Flask(__name__)

    @app.get("/me")
    @auth
    def me():
        claims = g.tessera_claims
        return jsonify(sub=claims["sub"], sid=claims["sid"], kid=g.tessera_kid)

    @app.errorhandler(404)
    def not_found(_err):
        return jsonify(status=404, error="not-found", message="no such route"), 404

    @app.errorhandler(405)
    def method_not_allowed(_err):
        return jsonify(status=405, error="method-not-allowed", message="method not allowed"), 405

    @app.errorhandler(500)
    def internal(_err):
        return jsonify(status=500, error="internal-error", message="internal error"), 500

    return app


def main() -> None:
    tessera_url = os.environ.get("TESSERA_URL")
    if not tessera_url:
        sys.exit("TESSERA_URL is required")
    audience = os.environ.get("TESSERA_AUDIENCE") or "tessera"
    port = int(os.environ.get("PORT") or 0)
    cooldown_env = os.environ.get("JWKS_COOLDOWN_SECONDS")
    cooldown = float(cooldown_env) if cooldown_env else None

    app = create_app(tessera_url, audience, cooldown)
    # Bind first (port 0 picks a free port), then report the real port.
    server = make_server("127.0.0.1", port, app, threaded=True)

    def stop(_signum, _frame):
        # shutdown() waits for serve_forever() to return, so it must run on another thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"listening {server.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
