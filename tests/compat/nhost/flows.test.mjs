// The account flows through the official @nhost/nhost-js SDK (pinned 4.7.0), each call made
// by the SDK itself against a running Tessera: anonymous sign-in and deanonymize, a
// passwordless email link with PKCE through tokenExchange, password change and reset, email
// change, the verification email, token verification.
//
//   TESSERA_URL   the SDK's authUrl (Tessera's public URL + /v1)
//   OUTBOX_DIR    where that Tessera writes its messages (no SMTP configured)
//   APP_URL       an allowed redirect URL (TESSERA_ALLOWED_REDIRECT_URLS)
// tests/api/compat.rs sets all three and runs this against both stores.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createClient } from '@nhost/nhost-js';
import { MemoryStorage } from '@nhost/nhost-js/session';

const PASSWORD = 'correct-Horse-battery-9';
const NEW_PASSWORD = 'another-Strong-passphrase-4';
const authUrl = (process.env.TESSERA_URL ?? '').replace(/\/+$/, '');
const OUTBOX = process.env.OUTBOX_DIR;
const APP_URL = process.env.APP_URL;

function client() {
  return createClient({ authUrl, storage: new MemoryStorage() });
}

function uniqueEmail(tag) {
  return `sdk-${tag}-${Date.now()}-${randomBytes(4).toString('hex')}@example.com`;
}

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

// The /verify link of the newest message to `to` whose link has this `type`, read from the
// outbox (quoted-printable undone), pointed at the server under test.
async function emailedLink(to, type) {
  for (let attempt = 0; attempt < 100; attempt++) {
    const names = (await readdir(OUTBOX)).filter((n) => n.endsWith('.eml')).sort().reverse();
    for (const name of names) {
      const raw = await readFile(`${OUTBOX}/${name}`, 'utf8');
      const text = raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g,
        (_, hex) => String.fromCharCode(parseInt(hex, 16)));
      if (!text.includes(`To: ${to}`)) continue;
      const found = text.match(/https?:\/\/[^\s"<]*\/verify\?[^\s"<]*/g) ?? [];
      const link = found.find((l) => new URL(l).searchParams.get('type') === type);
      if (link) {
        const url = new URL(link);
        return `${new URL(authUrl).origin}${url.pathname}${url.search}`;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no ${type} link to ${to} in the outbox`);
}

// Follows a link as the browser would, up to the app: the URL Tessera redirects to.
async function follow(link) {
  const response = await fetch(link, { redirect: 'manual' });
  assert.equal(response.status, 303, `following ${type(link)}: ${response.status}`);
  return new URL(response.headers.get('location'));
}

function type(link) {
  return new URL(link).searchParams.get('type');
}

test('the environment names Tessera, its outbox and an allowed redirect', () => {
  assert.ok(authUrl && OUTBOX && APP_URL, 'TESSERA_URL, OUTBOX_DIR and APP_URL must be set');
});

test('anonymous sign-in, then deanonymizeUser keeps the user and its session', async () => {
  const nhost = client();
  const anonymous = await nhost.auth.signInAnonymous({ displayName: 'Visitor' });
  const session = anonymous.body.session;
  assert.ok(session, JSON.stringify(anonymous.body));
  assert.equal(session.user.isAnonymous, true);
  assert.deepEqual(session.user.roles, ['anonymous']);

  const email = uniqueEmail('anon');
  const upgraded = await nhost.auth.deanonymizeUser({
    signInMethod: 'email-password', email, password: PASSWORD,
  });
  assert.equal(upgraded.body, 'OK');
  const refreshed = await nhost.refreshSession(0);
  assert.equal(refreshed.user.id, session.user.id, 'the same user');
  assert.equal(refreshed.user.isAnonymous, false);
  assert.equal(refreshed.user.email, email);

  const signedIn = await client().auth.signInEmailPassword({ email, password: PASSWORD });
  assert.equal(signedIn.body.session.user.id, session.user.id);
});

test('a passwordless email link with PKCE signs in through tokenExchange', async () => {
  const nhost = client();
  const email = uniqueEmail('link');
  const { verifier, challenge } = pkce();
  const sent = await nhost.auth.signInPasswordlessEmail({
    email, codeChallenge: challenge, options: { redirectTo: APP_URL },
  });
  assert.equal(sent.body, 'OK');
  const landing = await follow(await emailedLink(email, 'signinPasswordless'));
  assert.equal(`${landing.origin}${landing.pathname}`, APP_URL);
  const code = landing.searchParams.get('code');
  assert.ok(code, `no code in ${landing}`);
  assert.ok(!landing.href.includes('eyJ') && !/token/i.test(landing.search), 'no token in the URL');

  const exchanged = await nhost.auth.tokenExchange({ code, codeVerifier: verifier });
  const session = exchanged.body.session;
  assert.ok(session, `tokenExchange answered no session: ${JSON.stringify(exchanged.body)}`);
  assert.equal(session.user.email, email);
  assert.equal(session.user.emailVerified, true, 'the link proved the address');
  assert.equal(typeof session.refreshToken, 'string');
  assert.equal(nhost.getUserSession()?.accessToken, session.accessToken, 'the SDK stored it');
  const me = await nhost.auth.getUser();
  assert.equal(me.body.email, email);
});

test('password change (signed in) and reset (by email) through the SDK', async () => {
  const nhost = client();
  const email = uniqueEmail('pw');
  await nhost.auth.signUpEmailPassword({ email, password: PASSWORD });
  const changed = await nhost.auth.changeUserPassword({ newPassword: NEW_PASSWORD });
  assert.equal(changed.body, 'OK');
  await client().auth.signInEmailPassword({ email, password: NEW_PASSWORD });

  const reset = await client().auth.sendPasswordResetEmail({
    email, options: { redirectTo: APP_URL },
  });
  assert.equal(reset.body, 'OK');
  const landing = await follow(await emailedLink(email, 'passwordReset'));
  assert.equal(landing.search, '', 'nothing in the query');
  const fragment = new URLSearchParams(landing.hash.slice(1));
  const ticket = fragment.get('ticket');
  assert.ok(ticket, `no ticket in the fragment of ${landing.origin}${landing.pathname}`);
  const done = await client().auth.changeUserPassword({ newPassword: PASSWORD, ticket });
  assert.equal(done.body, 'OK');
  const again = await client().auth.signInEmailPassword({ email, password: PASSWORD });
  assert.equal(again.body.session.user.email, email);
});

test('email change and the verification email through the SDK', async () => {
  const nhost = client();
  const email = uniqueEmail('old');
  const newEmail = uniqueEmail('new');
  await nhost.auth.signUpEmailPassword({ email, password: PASSWORD });

  const verification = await nhost.auth.sendVerificationEmail({
    email, options: { redirectTo: APP_URL },
  });
  assert.equal(verification.body, 'OK');
  const verified = await follow(await emailedLink(email, 'emailVerify'));
  assert.equal(`${verified.origin}${verified.pathname}`, APP_URL);
  assert.equal((await nhost.auth.getUser()).body.emailVerified, true);

  const change = await nhost.auth.changeUserEmail({ newEmail, options: { redirectTo: APP_URL } });
  assert.equal(change.body, 'OK');
  await follow(await emailedLink(newEmail, 'emailConfirmChange'));
  assert.equal((await nhost.auth.getUser()).body.email, newEmail);
  // The old address was told, with a link that reverts the change.
  await emailedLink(email, 'emailRevertChange');

  const verifiedToken = await nhost.auth.verifyToken({ token: nhost.getUserSession().accessToken });
  assert.equal(verifiedToken.body, 'OK');
});

// The fields of an interface of the SDK's own type declarations: name -> {optional, type}.
async function sdkInterface(name) {
  const types = await readFile(
    new URL('node_modules/@nhost/nhost-js/dist/src/auth/client.d.ts', import.meta.url),
    'utf8',
  );
  const body = new RegExp(`export interface ${name} \\{([\\s\\S]*?)\\n\\}`).exec(types)?.[1];
  assert.ok(body, `the SDK declares ${name}`);
  const fields = {};
  for (const [, field, optional, type] of body.matchAll(/^\s+(\w+)(\??): ([^;]+);/gm)) {
    fields[field] = { optional: optional === '?', type: type.trim() };
  }
  return fields;
}

// Checks `value` against an SDK interface: every required field present, every field
// declared, scalars of the declared type (null allowed for optional fields: Tessera sends
// null where it has no value, as Nhost's server does).
function assertShape(value, fields, what) {
  for (const [field, { optional, type }] of Object.entries(fields)) {
    if (!(field in value)) {
      assert.ok(optional, `${what}.${field} is required by the SDK's type`);
      continue;
    }
    const actual = value[field];
    if (actual === null) {
      assert.ok(optional, `${what}.${field} is null but required (${type})`);
    } else if (['string', 'number', 'boolean'].includes(type)) {
      assert.equal(typeof actual, type, `${what}.${field}`);
    } else if (type.endsWith('[]')) {
      assert.ok(Array.isArray(actual), `${what}.${field} is an array`);
    }
  }
  for (const field of Object.keys(value)) {
    assert.ok(field in fields, `${what}.${field} is not in the SDK's type`);
  }
}

test('sessions and users have the shapes of the SDK\'s own types', async () => {
  const [session, user] = [await sdkInterface('Session'), await sdkInterface('User')];
  const nhost = client();
  const signedUp = (await nhost.auth.signUpEmailPassword({
    email: uniqueEmail('shape'), password: PASSWORD,
  })).body.session;
  assertShape(signedUp, session, 'session');
  assertShape(signedUp.user, user, 'session.user');
  assertShape((await nhost.auth.getUser()).body, user, 'user');
  const anonymous = (await client().auth.signInAnonymous({})).body.session;
  assertShape(anonymous.user, user, 'anonymous user');
});

test('custom claims reach the token the SDK decodes', async () => {
  const nhost = client();
  await nhost.auth.signUpEmailPassword({
    email: uniqueEmail('claims'), password: PASSWORD, options: { metadata: { org: 'acme' } },
  });
  const claims = nhost.getUserSession().decodedToken['https://hasura.io/jwt/claims'];
  assert.equal(claims['x-hasura-org'], 'acme', JSON.stringify(claims));
  assert.equal(claims['x-hasura-user-id'], nhost.getUserSession().user.id);
});

test('discovery, keys, health and version through the SDK', async () => {
  const nhost = client();
  const jwks = (await nhost.auth.getJWKs()).body;
  assert.ok(jwks.keys.length >= 1);
  for (const key of jwks.keys) {
    assert.equal(key.kty, 'EC');
    assert.equal(key.alg, 'ES256');
    assert.equal(typeof key.kid, 'string');
  }
  const discovery = (await nhost.auth.getOpenIDConfiguration()).body;
  assert.ok(discovery.jwks_uri.endsWith('/.well-known/jwks.json'), JSON.stringify(discovery));
  assert.ok(discovery.id_token_signing_alg_values_supported.includes('ES256'));
  assert.equal((await nhost.auth.healthCheckGet()).body.status, 'ok');
  assert.equal((await nhost.auth.healthCheckHead()).status, 200);
  assert.equal(typeof (await nhost.auth.getVersion()).body.version, 'string');
  // The SDK builds the link URL itself; following it is what a browser does (above).
  const link = nhost.auth.verifyTicketURL({ ticket: 'x', type: 'emailVerify', redirectTo: APP_URL });
  assert.ok(link.startsWith(`${authUrl}/verify?`), link);
});
