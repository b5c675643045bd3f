// Tessera as an OpenID provider through the SDK's own oauth2* calls (@nhost/nhost-js, pinned),
// at the SDK's authUrl (Tessera's public URL + /v1): discovery, the authorize URL the SDK
// builds, Nhost's login hand-over (oauth2LoginGet / oauth2LoginPost), the code exchange,
// userinfo, the JWKS, introspection, revocation.
//
//   TESSERA_URL    the SDK's authUrl
//   ADMIN_SECRET   Tessera's admin secret, to register the app (POST /oauth2/clients)
// tests/api/compat.rs sets both and runs this against both stores.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createClient } from '@nhost/nhost-js';
import { FetchError } from '@nhost/nhost-js/fetch';
import { MemoryStorage } from '@nhost/nhost-js/session';

const PASSWORD = 'correct-Horse-battery-9';
const REDIRECT = 'http://localhost:9999/callback';
const authUrl = (process.env.TESSERA_URL ?? '').replace(/\/+$/, '');
const origin = new URL(authUrl).origin;

function client() {
  return createClient({ authUrl, storage: new MemoryStorage() });
}

test('oauth2*: an app signs a user in through the SDK calls', async () => {
  const user = client();
  const email = `sdk-oauth2-${Date.now()}-${randomBytes(4).toString('hex')}@example.com`;
  const signedUp = await user.auth.signUpEmailPassword({ email, password: PASSWORD });
  const jwt = signedUp.body.session.accessToken;
  const userId = signedUp.body.session.user.id;

  const registered = await fetch(`${origin}/oauth2/clients`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-tessera-admin-secret': process.env.ADMIN_SECRET,
    },
    body: JSON.stringify({ name: 'SDK app', redirectUris: [REDIRECT] }),
  });
  assert.equal(registered.status, 201);
  const { clientId, clientSecret } = await registered.json();

  // An app's own calls carry no user session.
  const app = client();
  const metadata = (await app.auth.getOAuthAuthorizationServer()).body;
  assert.equal(new URL(metadata.authorization_endpoint).pathname, '/oauth2/authorize');
  assert.deepEqual(metadata.code_challenge_methods_supported, ['S256']);

  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const authorizeUrl = app.auth.oauth2AuthorizeURL({
    client_id: clientId,
    redirect_uri: REDIRECT,
    response_type: 'code',
    scope: 'openid profile email offline_access',
    state: 'sdk-state',
    nonce: 'sdk-nonce',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  const toLogin = await fetch(authorizeUrl, { redirect: 'manual' });
  assert.equal(toLogin.status, 302);
  const requestId = new URL(toLogin.headers.get('location')).searchParams.get('request_id');

  const pending = (await app.auth.oauth2LoginGet({ request_id: requestId })).body;
  assert.equal(pending.clientId, clientId);
  assert.deepEqual(pending.scopes, ['openid', 'profile', 'email', 'offline_access']);
  const approved = (
    await app.auth.oauth2LoginPost(
      { requestId },
      { headers: { Authorization: `Bearer ${jwt}` } },
    )
  ).body;
  const back = new URL(approved.redirectUri);
  assert.equal(back.searchParams.get('state'), 'sdk-state');
  const code = back.searchParams.get('code');

  const tokens = (
    await app.auth.oauth2Token({
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      client_id: clientId,
      client_secret: clientSecret,
      code_verifier: verifier,
    })
  ).body;
  assert.equal(tokens.token_type, 'Bearer');
  assert.ok(tokens.id_token && tokens.refresh_token);

  const bearer = { headers: { Authorization: `Bearer ${tokens.access_token}` } };
  const info = (await app.auth.oauth2UserinfoGet(bearer)).body;
  assert.equal(info.sub, userId);
  assert.equal(info.email, email);
  assert.equal((await app.auth.oauth2UserinfoPost(bearer)).body.sub, userId);
  assert.ok((await app.auth.oauth2Jwks()).body.keys.length >= 1);

  const introspected = (
    await app.auth.oauth2Introspect({
      token: tokens.access_token,
      client_id: clientId,
      client_secret: clientSecret,
    })
  ).body;
  assert.equal(introspected.active, true);
  assert.equal(introspected.client_id, clientId);
  assert.equal(introspected.sub, userId);

  await app.auth.oauth2Revoke({
    token: tokens.refresh_token,
    client_id: clientId,
    client_secret: clientSecret,
  });
  await assert.rejects(
    app.auth.oauth2Token({
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
      client_id: clientId,
      client_secret: clientSecret,
    }),
    (err) => err instanceof FetchError && err.status === 400,
  );
  // A code works once.
  await assert.rejects(
    app.auth.oauth2Token({
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      client_id: clientId,
      client_secret: clientSecret,
      code_verifier: verifier,
    }),
    (err) => err instanceof FetchError && err.status === 400,
  );
});
