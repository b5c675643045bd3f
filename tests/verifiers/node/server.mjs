// An "other service" that verifies Tessera access tokens offline, with node `jose` and
// Express. tests/api/verifiers.rs starts it against a running Tessera; the middleware
// below is the recipe in docs/verifying.md.
//
// Environment:
//   TESSERA_URL            Tessera's public URL (required); discovery is read from it
//   TESSERA_AUDIENCE       the expected `aud` (default "tessera")
//   PORT                   port to listen on, 127.0.0.1 only (default 0: any free port)
//   JWKS_COOLDOWN_SECONDS  least time between two JWKS fetches caused by an unknown `kid`
//                          (default 30, jose's own default; tests set it low)
//
// Prints exactly one line `listening <port>` on stdout once it accepts connections.

import express from 'express';
import { createRemoteJWKSet, errors, jwtVerify } from 'jose';

// ---------------------------------------------------------------------------------------
// The recipe: copy from here to the end of tesseraAuth().

const ACCESS_COOKIE = process.env.TESSERA_ACCESS_COOKIE || '__Host-tessera-token';

/** The access token of a request: `Authorization: Bearer` first, else the access cookie. */
export function tokenFromRequest(req) {
  const authorization = req.headers.authorization;
  if (typeof authorization === 'string') {
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    if (match) return match[1];
  }
  // Exactly the one name Tessera sets: `__Host-tessera-token` when its cookies are Secure
  // with no Domain, `tessera-token` with TESSERA_COOKIE_DOMAIN or TESSERA_COOKIE_SECURE=false.
  // Never both: a sibling subdomain could inject the other one.
  return parseCookies(req.headers.cookie).get(ACCESS_COOKIE) || null;
}

/** A Cookie header as a Map; the first occurrence of a name wins. */
export function parseCookies(header) {
  const cookies = new Map();
  if (typeof header !== 'string') return cookies;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0) continue;
    const name = pair.slice(0, eq).trim();
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (name && !cookies.has(name)) cookies.set(name, value);
  }
  return cookies;
}

/** Raised when the key set cannot be fetched: Tessera's fault, not the token's (503). */
class KeySetUnavailable extends Error {}

/**
 * Express middleware: verifies the request's Tessera access token and sets `req.auth` to
 * `{ claims, header }`, or answers 401 `invalid-token` with `WWW-Authenticate`.
 *
 * `jwks` must be created once per process, `createRemoteJWKSet(new URL(jwks_uri))`: it
 * caches the key set (10 minutes) and refetches it when a token names an unknown `kid`
 * (at most once per cooldown), which is how a rotated-in key is picked up.
 */
export function tesseraAuth({ jwks, issuer, audience = 'tessera', clockTolerance = 60 }) {
  const key = async (protectedHeader, token) => {
    // Tessera always names its key: a token without a kid is not one of its tokens.
    if (typeof protectedHeader.kid !== 'string' || !protectedHeader.kid) throw new errors.JWKSNoMatchingKey();
    try {
      return await jwks(protectedHeader, token);
    } catch (err) {
      // No key with that kid even after a refetch: the token is bad. Anything else
      // (network, timeout, non-200, malformed JWKS) means the key set is unavailable.
      if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) throw err;
      throw new KeySetUnavailable('the key set could not be fetched', { cause: err });
    }
  };
  return async function tesseraAuthMiddleware(req, res, next) {
    const token = tokenFromRequest(req);
    if (!token) return unauthorized(res, 'no access token (Authorization: Bearer or the access cookie)');
    try {
      const { payload, protectedHeader } = await jwtVerify(token, key, {
        algorithms: ['ES256'], // never anything else: no `none`, no HS256 with the public key
        issuer,
        audience,
        clockTolerance, // seconds of leeway for exp (and nbf)
        requiredClaims: ['sub', 'sid', 'iat', 'exp'],
      });
      if (typeof payload.sub !== 'string' || !payload.sub || typeof payload.sid !== 'string' || !payload.sid) {
        return unauthorized(res, 'the access token lacks sub or sid');
      }
      req.auth = { claims: payload, header: protectedHeader };
      return next();
    } catch (err) {
      if (err instanceof KeySetUnavailable) {
        return res.status(503).json({ status: 503, error: 'service-unavailable', message: err.message });
      }
      return unauthorized(res, reason(err));
    }
  };
}

function reason(err) {
  // Fixed texts only: never the token, nor anything copied out of it.
  if (err instanceof errors.JWTExpired) return 'the access token has expired; refresh it first';
  if (err instanceof errors.JWTClaimValidationFailed) return `claim "${err.claim}" check failed (${err.reason})`;
  if (err instanceof errors.JOSEAlgNotAllowed) return 'algorithm not allowed (ES256 only)';
  if (err instanceof errors.JWKSNoMatchingKey) return 'signed by a key not in the key set';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'bad signature';
  return 'the access token is invalid';
}

function unauthorized(res, message) {
  res.set('WWW-Authenticate', 'Bearer error="invalid_token"');
  return res.status(401).json({ status: 401, error: 'invalid-token', message });
}

// End of the recipe.
// ---------------------------------------------------------------------------------------

/** Reads Tessera's discovery document, retrying for a while if Tessera is still starting. */
async function discover(tesseraUrl) {
  const url = `${tesseraUrl.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  let lastError;
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const doc = await response.json();
      if (typeof doc.issuer !== 'string' || typeof doc.jwks_uri !== 'string') {
        throw new Error('the discovery document lacks issuer or jwks_uri');
      }
      return doc;
    } catch (err) {
      lastError = err;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  throw new Error(`cannot read ${url}: ${lastError?.message}`);
}

async function main() {
  const tesseraUrl = process.env.TESSERA_URL;
  if (!tesseraUrl) {
    console.error('TESSERA_URL is required');
    process.exit(2);
  }
  const audience = process.env.TESSERA_AUDIENCE || 'tessera';
  const port = Number(process.env.PORT || 0);
  const cooldown = process.env.JWKS_COOLDOWN_SECONDS;

  const { issuer, jwks_uri: jwksUri } = await discover(tesseraUrl);
  // One key set for the life of the process, so its cache stays warm across requests.
  const jwks = createRemoteJWKSet(new URL(jwksUri), {
    ...(cooldown !== undefined && cooldown !== '' ? { cooldownDuration: Number(cooldown) * 1000 } : {}),
  });

  const app = express();
  app.disable('x-powered-by');
  const auth = tesseraAuth({ jwks, issuer, audience });

  app.get('/me', auth, (req, res) => {
    const { claims, header } = req.auth;
    res.json({ sub: claims.sub, sid: claims.sid, kid: header.kid ?? null });
  });
  app.use((req, res) => res.status(404).json({ status: 404, error: 'not-found', message: 'no such route' }));
  // eslint-disable-next-line no-unused-vars
  app.use((err, req, res, next) => {
    res.status(500).json({ status: 500, error: 'internal-error', message: 'internal error' });
  });

  const server = app.listen(port, '127.0.0.1', (err) => {
    if (err) {
      console.error(`cannot listen: ${err.message}`);
      process.exit(1);
    }
    process.stdout.write(`listening ${server.address().port}\n`);
  });
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
      server.close(() => process.exit(0));
      server.closeAllConnections?.();
    });
  }
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
