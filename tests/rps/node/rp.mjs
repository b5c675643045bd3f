// A relying party on openid-client (v6), as an app signing its users in at Tessera would
// be written: everything from discovery, nothing Tessera-specific on the client's side but
// the approval at POST /oauth2/login, where this script stands in for the user at the
// login page. tests/api/oauth2_rps.rs runs it and asserts on what it prints.
//
// Environment:
//
//	TESSERA_URL          the issuer (Tessera's public URL)
//	CLIENT_ID            the app's client id
//	CLIENT_SECRET        its secret; unset or empty for a public client
//	REDIRECT_URI         a registered redirect URI (never fetched)
//	POST_LOGOUT_URI      a registered post-logout redirect URI (never fetched)
//	ACCESS_TOKEN         the user's Tessera access token, to approve at /oauth2/login
//
// Prints one JSON object a line, {"check": "...", ...facts}, and exits 0; on any surprise
// it prints {"error": "..."} and exits 1.

import { createHash, randomUUID } from 'node:crypto';
import * as client from 'openid-client';

const env = (name, required = true) => {
  const value = process.env[name];
  if (required && !value) fail(`${name} is required`);
  return value || undefined;
};

function fail(message) {
  console.log(JSON.stringify({ error: message }));
  process.exit(1);
}

function report(check, facts = {}) {
  console.log(JSON.stringify({ check, ...facts }));
}

function expect(condition, message) {
  if (!condition) fail(message);
}

/** Runs `action`, which must fail with this OAuth error code (or HTTP status). */
async function refused(action, code, what) {
  try {
    await action();
  } catch (err) {
    const got = err.error ?? err.cause?.error ?? err.status ?? err.code;
    if (got === code) return got;
    fail(`${what}: expected ${code}, got ${got} (${err.name}: ${err.message})`);
  }
  fail(`${what}: expected ${code}, but it succeeded`);
}

const issuer = env('TESSERA_URL');
const clientId = env('CLIENT_ID');
const clientSecret = env('CLIENT_SECRET', false);
const redirectUri = env('REDIRECT_URI');
const postLogoutUri = env('POST_LOGOUT_URI');
const userToken = env('ACCESS_TOKEN');

// Plain http on loopback needs allowInsecureRequests. enableNonRepudiationChecks makes
// openid-client verify the ID token's signature against the discovered JWKS (without it,
// it trusts the TLS channel and checks only the claims).
const config = await client.discovery(
  new URL(issuer),
  clientId,
  clientSecret,
  clientSecret ? undefined : client.None(),
  { execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks] },
);
const metadata = config.serverMetadata();
report('discovery', {
  issuer: metadata.issuer,
  endSession: !!metadata.end_session_endpoint,
  algs: metadata.id_token_signing_alg_values_supported,
});

/**
 * The front channel: the authorization URL with PKCE, state and nonce; the browser's
 * first hop (a 302 to the login page with request_id); the user's approval. Answers the
 * URL the browser would land on at the app, and what the app kept for it.
 */
async function authorize() {
  const codeVerifier = client.randomPKCECodeVerifier();
  const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid profile email offline_access',
    code_challenge: codeChallenge,
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  const hop = await fetch(url, { redirect: 'manual' });
  expect(hop.status === 302, `/oauth2/authorize answered ${hop.status}, not 302`);
  const login = new URL(hop.headers.get('location'));
  const requestId = login.searchParams.get('request_id');
  expect(requestId, `no request_id in ${login}`);
  const approval = await fetch(new URL('/oauth2/login', issuer), {
    method: 'POST',
    headers: { authorization: `Bearer ${userToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ requestId }),
  });
  const body = await approval.json();
  expect(approval.status === 200, `POST /oauth2/login: ${approval.status} ${JSON.stringify(body)}`);
  expect(body.redirectUri, `no redirectUri in ${JSON.stringify(body)}`);
  return { callback: new URL(body.redirectUri), codeVerifier, state, nonce };
}

/** The code exchange, with every check openid-client makes (state, iss, ID token). */
async function exchange(front) {
  return client.authorizationCodeGrant(config, front.callback, {
    pkceCodeVerifier: front.codeVerifier,
    expectedState: front.state,
    expectedNonce: front.nonce,
    idTokenExpected: true,
  });
}

/** OpenID Connect Core 3.1.3.6, computed here: openid-client does not check at_hash. */
const atHash = (accessToken) =>
  createHash('sha256').update(accessToken).digest().subarray(0, 16).toString('base64url');

// 1. Sign in: authorization, code exchange, ID token, userinfo.
const first = await authorize();
const tokens = await exchange(first);
const claims = tokens.claims();
expect(claims.at_hash === atHash(tokens.access_token), 'at_hash does not match the access token');
expect(tokens.refresh_token, 'no refresh token with offline_access');
report('code', {
  sub: claims.sub,
  email: claims.email,
  iss: claims.iss,
  aud: claims.aud,
  nonce: claims.nonce === first.nonce,
  atHash: true,
  tokenType: tokens.token_type,
  scope: tokens.scope,
  hasSid: typeof claims.sid === 'string',
});
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
report('userinfo', { sub: userinfo.sub, email: userinfo.email, emailVerified: userinfo.email_verified });

// The code is single use: the library presenting the same callback again is refused.
await refused(() => exchange(first), 'invalid_grant', 'a replayed code');
// ... and that replay ended the grant the code gave (RFC 6749 section 4.1.2).
await refused(
  () => client.refreshTokenGrant(config, tokens.refresh_token),
  'invalid_grant',
  'the refresh token of a replayed code',
);
report('code-replay', { refused: true, grantRevoked: true });

// 2. Refresh tokens rotate, and a replaced one presented again ends the grant.
const second = await exchange(await authorize());
const r1 = await client.refreshTokenGrant(config, second.refresh_token);
const r2 = await client.refreshTokenGrant(config, r1.refresh_token);
expect(r1.refresh_token && r1.refresh_token !== second.refresh_token, 'first refresh did not rotate');
expect(r2.refresh_token && r2.refresh_token !== r1.refresh_token, 'second refresh did not rotate');
const refreshedClaims = r2.claims();
report('refresh', {
  rotated: 2,
  idToken: !!r2.id_token,
  sub: refreshedClaims?.sub,
  sameSid: refreshedClaims?.sid === second.claims().sid,
});
await refused(
  () => client.refreshTokenGrant(config, second.refresh_token),
  'invalid_grant',
  'the first refresh token presented again',
);
await refused(
  () => client.refreshTokenGrant(config, r2.refresh_token),
  'invalid_grant',
  'the current refresh token after reuse was detected',
);
await refused(
  () => client.fetchUserInfo(config, r2.access_token, claims.sub),
  401,
  'userinfo with an access token of the revoked grant',
);
report('reuse', { refused: true, grantRevoked: true });

// The replaced token replayed at once, its successor still unused: outside a reuse grace
// window (the test runs Tessera with none) that is reuse too, and ends the grant.
const sixth = await exchange(await authorize());
const r6 = await client.refreshTokenGrant(config, sixth.refresh_token);
await refused(
  () => client.refreshTokenGrant(config, sixth.refresh_token),
  'invalid_grant',
  'a replaced refresh token replayed before its successor was used',
);
await refused(
  () => client.refreshTokenGrant(config, r6.refresh_token),
  'invalid_grant',
  'the successor after an immediate replay',
);
report('immediate-reuse', { refused: true, grantRevoked: true });

// 3. Revocation (RFC 7009) of the current refresh token.
const third = await exchange(await authorize());
const r3 = await client.refreshTokenGrant(config, third.refresh_token);
await client.tokenRevocation(config, r3.refresh_token);
await refused(
  () => client.refreshTokenGrant(config, r3.refresh_token),
  'invalid_grant',
  'a revoked refresh token',
);
await refused(
  () => client.fetchUserInfo(config, r3.access_token, claims.sub),
  401,
  'userinfo after revocation',
);
// Revoking again (and an unknown token) is fine, as RFC 7009 says.
await client.tokenRevocation(config, r3.refresh_token);
await client.tokenRevocation(config, `not-a-token-${randomUUID()}`);
report('revocation', { refused: true });

// 4. RP-initiated logout with the ID token as the hint.
const fourth = await exchange(await authorize());
const logoutState = client.randomState();
const endSession = client.buildEndSessionUrl(config, {
  id_token_hint: fourth.id_token,
  post_logout_redirect_uri: postLogoutUri,
  state: logoutState,
});
const logout = await fetch(endSession, { redirect: 'manual' });
expect(logout.status === 302, `end_session_endpoint answered ${logout.status}, not 302`);
const back = new URL(logout.headers.get('location'));
expect(
  `${back.origin}${back.pathname}` === postLogoutUri,
  `logout went to ${back}, not ${postLogoutUri}`,
);
expect(back.searchParams.get('state') === logoutState, `logout lost state: ${back}`);
await refused(
  () => client.refreshTokenGrant(config, fourth.refresh_token),
  'invalid_grant',
  'the refresh token after logout',
);
report('logout', { redirected: true, state: true, refused: true });

// 5. A wrong PKCE verifier is refused by the server (the library sends what it is given).
const fifth = await authorize();
await refused(
  () => exchange({ ...fifth, codeVerifier: client.randomPKCECodeVerifier() }),
  'invalid_grant',
  'a wrong code_verifier',
);
report('pkce', { refused: true });

report('done');
