// Passkeys (WebAuthn) through the official @nhost/nhost-js SDK (pinned 4.7.0), every call made
// by the SDK itself against a running Tessera, the authenticator played by
// soft-authenticator.mjs (node:crypto only, written from the WebAuthn spec):
//
//   signUpWebauthn / verifySignUpWebauthn   a new account whose first credential is a passkey
//   signInWebauthn() / verifySignInWebauthn a discoverable sign-in (no email typed)
//   signInWebauthn({email})                 the account's credentials in allowCredentials
//   addSecurityKey / verifyAddSecurityKey   a second passkey (another authenticator)
//   elevateWebauthn / verifyElevateWebauthn a step-up: a new session whose amr has "hwk"
//
// and the refusals in Tessera's error envelope, as the SDK's FetchError carries them: a
// verified credential sent again (its challenge is spent), an assertion made on another
// origin, a sign-up with an email already in use.
//
//   TESSERA_URL       the SDK's authUrl (Tessera's public URL + /v1)
//   WEBAUTHN_ORIGIN   the page's origin: one of the server's TESSERA_WEBAUTHN_ORIGINS
//   WEBAUTHN_RP_ID    the server's TESSERA_WEBAUTHN_RP_ID
// tests/api/compat.rs sets them and runs this against both stores.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createClient } from '@nhost/nhost-js';
import { FetchError } from '@nhost/nhost-js/fetch';
import { MemoryStorage } from '@nhost/nhost-js/session';
import { SoftAuthenticator, fromB64url } from './soft-authenticator.mjs';

const authUrl = (process.env.TESSERA_URL ?? '').replace(/\/+$/, '');
const origin = process.env.WEBAUTHN_ORIGIN ?? '';
const rpId = process.env.WEBAUTHN_RP_ID ?? '';
// An origin the server does not allow: the page of a phishing site relaying the options.
const PHISHING_ORIGIN = 'https://login.tessera-example.invalid';

function client() {
  return createClient({ authUrl, storage: new MemoryStorage() });
}

async function rejectsWith(promise, status, code) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof FetchError, `expected a FetchError, got ${err?.name}: ${err}`);
    assert.equal(err.status, status, JSON.stringify(err.body));
    assert.equal(err.body?.error, code, JSON.stringify(err.body));
    assert.equal(err.body?.status, status, `the envelope's status: ${JSON.stringify(err.body)}`);
    return true;
  });
}

// The payload of a compact JWT, unverified: what the test needs is what the server put in it.
function jwtPayload(token) {
  const parts = token.split('.');
  assert.equal(parts.length, 3, `not a compact JWT: ${token}`);
  return JSON.parse(fromB64url(parts[1]).toString('utf8'));
}

function assertSession(session, email) {
  assert.ok(session, 'no session');
  assert.equal(typeof session.accessToken, 'string');
  assert.ok(session.accessToken.length > 0, 'empty accessToken');
  assert.equal(typeof session.refreshToken, 'string');
  assert.ok(session.refreshToken.length > 0, 'empty refreshToken');
  assert.equal(session.user?.email, email);
}

// A base64url string of 16 or more random bytes, as a WebAuthn challenge must be.
function assertChallenge(challenge) {
  assert.equal(typeof challenge, 'string');
  assert.match(challenge, /^[A-Za-z0-9_-]+$/, `challenge is not base64url: ${challenge}`);
  assert.ok(fromB64url(challenge).length >= 16, `challenge shorter than 16 bytes: ${challenge}`);
}

function assertRequestOptions(options) {
  assertChallenge(options.challenge);
  assert.equal(options.rpId, rpId);
  assert.equal(options.userVerification, 'required');
  assert.ok(Array.isArray(options.allowCredentials), `allowCredentials: ${JSON.stringify(options)}`);
}

test('env: TESSERA_URL, WEBAUTHN_ORIGIN and WEBAUTHN_RP_ID are set', () => {
  assert.ok(authUrl, 'TESSERA_URL is not set');
  assert.match(origin, /^https?:\/\//, 'WEBAUTHN_ORIGIN is not an origin');
  assert.ok(rpId, 'WEBAUTHN_RP_ID is not set');
});

test('passkeys through the SDK: sign up, sign in, add a key, step up', async (t) => {
  const email = `sdk-passkey-${Date.now()}-${randomBytes(4).toString('hex')}@example.com`;
  const laptop = new SoftAuthenticator({ origin });
  const nhost = client();
  let failed = false;
  const step = (name, fn) =>
    t.test(name, { skip: failed && 'an earlier step failed' }, async () => {
      try {
        await fn();
      } catch (err) {
        failed = true;
        throw err;
      }
    });

  let creationOptions;
  let signUpCredential;
  let userId;
  let firstCredentialId;

  await step('signUpWebauthn answers creation options for the new account', async () => {
    const res = await nhost.auth.signUpWebauthn({ email });
    assert.equal(res.status, 200);
    creationOptions = res.body;
    assert.equal(creationOptions.publicKey, undefined, 'the options are wrapped in {publicKey}');
    assert.equal(creationOptions.rp?.id, rpId);
    assert.equal(typeof creationOptions.rp?.name, 'string');
    assert.equal(typeof creationOptions.user?.id, 'string');
    const handle = fromB64url(creationOptions.user.id);
    assert.ok(handle.length >= 1 && handle.length <= 64, `user.id is ${handle.length} bytes`);
    assert.equal(creationOptions.user.name, email);
    assert.equal(typeof creationOptions.user.displayName, 'string');
    assertChallenge(creationOptions.challenge);
    assert.ok(
      creationOptions.pubKeyCredParams?.some((p) => p.type === 'public-key' && p.alg === -7),
      `no ES256 in ${JSON.stringify(creationOptions.pubKeyCredParams)}`,
    );
    assert.equal(creationOptions.authenticatorSelection?.userVerification, 'required');
    // A discoverable sign-in (no email typed) needs the credential to be resident.
    assert.equal(creationOptions.authenticatorSelection?.residentKey, 'preferred');
    assert.equal(nhost.getUserSession(), null, 'a session before the credential was verified');
  });

  await step('verifySignUpWebauthn answers a session, which the SDK stores', async () => {
    signUpCredential = laptop.create(creationOptions);
    firstCredentialId = signUpCredential.id;
    const res = await nhost.auth.verifySignUpWebauthn({ credential: signUpCredential, nickname: 'laptop' });
    assert.equal(res.status, 200);
    const session = res.body.session;
    assertSession(session, email);
    userId = session.user.id;
    assert.ok(userId, 'no user id');
    const stored = nhost.getUserSession();
    assert.ok(stored, 'the SDK did not store the session');
    assert.equal(stored.accessToken, session.accessToken);
    assert.equal(stored.refreshToken, session.refreshToken);
    assert.equal(jwtPayload(session.accessToken).sub, userId);
    const user = (await nhost.auth.getUser()).body;
    assert.equal(user.id, userId);
    assert.equal(user.email, email);
  });

  await step('the same registration sent again is refused: its challenge is spent', async () => {
    await rejectsWith(
      client().auth.verifySignUpWebauthn({ credential: signUpCredential, nickname: 'laptop' }),
      401,
      'invalid-webauthn-challenge',
    );
  });

  await step('signUpWebauthn with the email now in use is refused', async () => {
    await rejectsWith(client().auth.signUpWebauthn({ email }), 409, 'email-already-in-use');
  });

  await step('signOut: the SDK forgets the session', async () => {
    const res = await nhost.auth.signOut({ refreshToken: nhost.getUserSession().refreshToken });
    assert.equal(res.status, 200);
    assert.equal(nhost.getUserSession(), null, 'the SDK still holds a session after signOut');
  });

  let signInAssertion;

  await step('signInWebauthn() with no email: a discoverable sign-in as the same user', async () => {
    const options = (await nhost.auth.signInWebauthn()).body;
    assertRequestOptions(options);
    assert.deepEqual(options.allowCredentials, [], 'a sign-in without email names credentials');
    signInAssertion = laptop.get(options);
    assert.equal(signInAssertion.id, firstCredentialId);
    assert.equal(signInAssertion.response.userHandle, creationOptions.user.id);
    const res = await nhost.auth.verifySignInWebauthn({ credential: signInAssertion });
    assert.equal(res.status, 200);
    assertSession(res.body.session, email);
    assert.equal(res.body.session.user.id, userId);
    assert.equal(nhost.getUserSession()?.accessToken, res.body.session.accessToken, 'the SDK did not store it');
    const amr = jwtPayload(res.body.session.accessToken).amr;
    assert.ok(Array.isArray(amr) && amr.includes('hwk'), `amr of a passkey sign-in: ${JSON.stringify(amr)}`);
  });

  await step('the same assertion sent again is refused: its challenge is spent', async () => {
    await rejectsWith(
      client().auth.verifySignInWebauthn({ credential: signInAssertion }),
      401,
      'invalid-webauthn-challenge',
    );
  });

  await step('signInWebauthn({email}) lists the account\'s credential, which then signs in', async () => {
    const fresh = client();
    const options = (await fresh.auth.signInWebauthn({ email })).body;
    assertRequestOptions(options);
    assert.deepEqual(
      options.allowCredentials.map((c) => [c.type, c.id]),
      [['public-key', firstCredentialId]],
    );
    const res = await fresh.auth.verifySignInWebauthn({ credential: laptop.get(options), email });
    assert.equal(res.body.session?.user?.id, userId);
  });

  await step('an assertion made on another origin is refused', async () => {
    const fresh = client();
    const options = (await fresh.auth.signInWebauthn({ email })).body;
    const phished = laptop.get(options, { origin: PHISHING_ORIGIN });
    await rejectsWith(fresh.auth.verifySignInWebauthn({ credential: phished }), 401, 'invalid-webauthn-credential');
    assert.equal(fresh.getUserSession(), null, 'the SDK holds a session after the refusal');
  });

  const backupKey = new SoftAuthenticator({ origin });
  let backupCredentialId;

  await step('addSecurityKey + verifyAddSecurityKey: a second passkey on another authenticator', async () => {
    const res = await nhost.auth.addSecurityKey();
    assert.equal(res.status, 200);
    const options = res.body;
    assert.equal(options.rp?.id, rpId);
    assert.equal(options.user?.id, creationOptions.user.id, 'the account\'s user handle changed');
    assertChallenge(options.challenge);
    assert.equal(options.authenticatorSelection?.userVerification, 'required');
    assert.deepEqual(
      (options.excludeCredentials ?? []).map((c) => c.id),
      [firstCredentialId],
      'excludeCredentials is not the account\'s credentials',
    );
    // The browser refuses a second credential for the account on the same authenticator.
    assert.throws(() => laptop.create(options), /InvalidStateError/);
    const credential = backupKey.create(options);
    backupCredentialId = credential.id;
    const added = await nhost.auth.verifyAddSecurityKey({ credential, nickname: 'backup key' });
    assert.equal(added.status, 200);
    assert.equal(typeof added.body.id, 'string');
    assert.ok(added.body.id.length > 0, 'empty id');
    assert.equal(added.body.nickname, 'backup key');
  });

  await step('the backup key signs in as the same user', async () => {
    const fresh = client();
    const options = (await fresh.auth.signInWebauthn()).body;
    const res = await fresh.auth.verifySignInWebauthn({ credential: backupKey.get(options) });
    assert.equal(res.body.session?.user?.id, userId);
    const listed = (await fresh.auth.signInWebauthn({ email })).body.allowCredentials.map((c) => c.id);
    assert.deepEqual(listed.sort(), [firstCredentialId, backupCredentialId].sort());
  });

  let elevateAssertion;

  await step('elevateWebauthn + verifyElevateWebauthn: a new session whose amr has "hwk"', async () => {
    const before = nhost.getUserSession();
    assert.ok(before, 'not signed in');
    const options = (await nhost.auth.elevateWebauthn()).body;
    assertRequestOptions(options);
    assert.deepEqual(
      options.allowCredentials.map((c) => c.id).sort(),
      [firstCredentialId, backupCredentialId].sort(),
    );
    elevateAssertion = laptop.get(options);
    const res = await nhost.auth.verifyElevateWebauthn({ credential: elevateAssertion });
    assert.equal(res.status, 200);
    const session = res.body.session;
    assertSession(session, email);
    assert.equal(session.user.id, userId);
    assert.notEqual(session.refreshToken, before.refreshToken, 'not a new session');
    const claims = jwtPayload(session.accessToken);
    assert.equal(claims.sub, userId);
    assert.notEqual(claims.sid, jwtPayload(before.accessToken).sid, 'the same session id');
    assert.ok(Array.isArray(claims.amr) && claims.amr.includes('hwk'), `amr: ${JSON.stringify(claims.amr)}`);
    // The SDK keeps sessions only from /signin/, /signup/ and /token answers: an app stores
    // the elevated one itself. Then it is the SDK's session like any other.
    nhost.sessionStorage.set(session);
    assert.equal((await nhost.auth.getUser()).body.id, userId);
  });

  await step('the same step-up assertion sent again is refused: its challenge is spent', async () => {
    await rejectsWith(
      nhost.auth.verifyElevateWebauthn({ credential: elevateAssertion }),
      401,
      'invalid-webauthn-challenge',
    );
  });
});

// The step-up above elevates a session that a passkey began, whose amr had "hwk" already; here
// the session is a password's, so "hwk" in the new one can only come from the step-up.
test('a password account adds a passkey through the SDK and steps up with it', async (t) => {
  const email = `sdk-passkey-pwd-${Date.now()}-${randomBytes(4).toString('hex')}@example.com`;
  const phone = new SoftAuthenticator({ origin, backupEligible: true });
  const nhost = client();
  let failed = false;
  const step = (name, fn) =>
    t.test(name, { skip: failed && 'an earlier step failed' }, async () => {
      try {
        await fn();
      } catch (err) {
        failed = true;
        throw err;
      }
    });
  let userId;
  let credentialId;

  await step('signUpEmailPassword: a session whose amr has no "hwk"', async () => {
    const res = await nhost.auth.signUpEmailPassword({ email, password: 'correct-Horse-battery-9' });
    assertSession(res.body.session, email);
    userId = res.body.session.user.id;
    const amr = jwtPayload(res.body.session.accessToken).amr;
    assert.ok(Array.isArray(amr) && amr.includes('pwd') && !amr.includes('hwk'), `amr: ${JSON.stringify(amr)}`);
  });

  await step('addSecurityKey + verifyAddSecurityKey on the password session', async () => {
    const options = (await nhost.auth.addSecurityKey()).body;
    assert.equal(options.user?.name, email);
    assert.deepEqual(options.excludeCredentials ?? [], [], 'credentials excluded for an account without any');
    const credential = phone.create(options);
    credentialId = credential.id;
    const added = await nhost.auth.verifyAddSecurityKey({ credential, nickname: 'phone' });
    assert.equal(added.body.nickname, 'phone');
  });

  await step('verifyElevateWebauthn: the new session\'s amr adds "hwk" to "pwd"', async () => {
    const before = nhost.getUserSession();
    const options = (await nhost.auth.elevateWebauthn()).body;
    assert.deepEqual(options.allowCredentials.map((c) => c.id), [credentialId]);
    const res = await nhost.auth.verifyElevateWebauthn({ credential: phone.get(options) });
    assertSession(res.body.session, email);
    const claims = jwtPayload(res.body.session.accessToken);
    const old = jwtPayload(before.accessToken);
    assert.equal(claims.sub, userId);
    assert.notEqual(claims.sid, old.sid, 'the same session id');
    assert.ok(claims.amr.includes('hwk') && claims.amr.includes('pwd'), `amr: ${JSON.stringify(claims.amr)}`);
    assert.ok(claims.auth_time >= old.auth_time, `auth_time went back: ${old.auth_time} -> ${claims.auth_time}`);
  });

  await step('the passkey now signs in to the password account, with no email typed', async () => {
    const fresh = client();
    const options = (await fresh.auth.signInWebauthn()).body;
    const res = await fresh.auth.verifySignInWebauthn({ credential: phone.get(options) });
    assert.equal(res.body.session?.user?.id, userId);
  });
});
