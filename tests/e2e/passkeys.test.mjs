// Passkeys in the example app (examples/browser), in a real headless Chromium (Debian's,
// driven by playwright-core) whose authenticator is a virtual one of the DevTools protocol:
// a platform authenticator with resident keys and user verification, that says yes at once.
//
// Environment (tests/api/browser.rs sets it up):
//   TESSERA_URL             a Tessera with the default settings, public URL http://localhost:PORT
//                           (so its RP ID is localhost), the app's origin allowed
//   STEP_UP_TESSERA_URL     the same with TESSERA_RECENT_AUTH_WINDOW=STEP_UP_WINDOW_SECONDS
//   EXPIRY_TESSERA_URL      the same with TESSERA_WEBAUTHN_TIMEOUT=EXPIRY_TIMEOUT_SECONDS
//   APP_PORT                port to serve the example app on, at http://localhost:APP_PORT
//   CHROMIUM                the browser binary (default /usr/bin/chromium)
// The app is also served from a second port, an origin no Tessera allows: same host, so
// the browser signs for RP ID localhost there too, and Tessera must refuse what it signed.
//
// The tests click the app's buttons and read what it shows; where a user cannot go (a
// replay, another origin, another user's passkey), page scripts use the app's own
// functions `call`, `createCredential` and `getCredential`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const TESSERA = process.env.TESSERA_URL;
const STEP_UP_TESSERA = process.env.STEP_UP_TESSERA_URL;
const STEP_UP_WINDOW_MS = Number(process.env.STEP_UP_WINDOW_SECONDS) * 1000;
const EXPIRY_TESSERA = process.env.EXPIRY_TESSERA_URL;
const EXPIRY_TIMEOUT_MS = Number(process.env.EXPIRY_TIMEOUT_SECONDS) * 1000;
const APP_PORT = Number(process.env.APP_PORT);
const APP_DIR = fileURLToPath(new URL('../../examples/browser/', import.meta.url));
const PASSWORD = 'correct-Horse-battery-9';
const AUTHENTICATOR = {
  protocol: 'ctap2',
  transport: 'internal',
  hasResidentKey: true,
  hasUserVerification: true,
  isUserVerified: true,
  automaticPresenceSimulation: true,
};

function serve(port, host, handler) {
  return new Promise((resolve) => {
    const server = createServer(handler);
    server.listen(port, host, () => resolve(server));
  });
}

async function appHandler(req, res) {
  const path = new URL(req.url, 'http://x').pathname;
  const file = path === '/' ? 'index.html' : path.slice(1);
  if (!['index.html', 'app.js'].includes(file)) {
    res.writeHead(404).end();
    return;
  }
  const type = file.endsWith('.js') ? 'text/javascript' : 'text/html';
  res.writeHead(200, { 'content-type': type }).end(await readFile(APP_DIR + file));
}

let browser;
let appServer;
let otherServer;
before(async () => {
  assert.ok(TESSERA && STEP_UP_TESSERA && EXPIRY_TESSERA && APP_PORT
    && STEP_UP_WINDOW_MS > 0 && EXPIRY_TIMEOUT_MS > 0,
  'TESSERA_URL, STEP_UP_TESSERA_URL, STEP_UP_WINDOW_SECONDS, EXPIRY_TESSERA_URL, '
    + 'EXPIRY_TIMEOUT_SECONDS and APP_PORT must be set');
  appServer = await serve(APP_PORT, 'localhost', appHandler);
  otherServer = await serve(0, 'localhost', appHandler);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => {
  await browser?.close();
  appServer?.close();
  otherServer?.close();
});

const appUrl = (tessera) => `http://localhost:${APP_PORT}/?tessera=${encodeURIComponent(tessera)}`;
const otherUrl = (tessera) =>
  `http://localhost:${otherServer.address().port}/?tessera=${encodeURIComponent(tessera)}`;
const uniqueEmail = (what) =>
  `${what}-${Date.now()}-${Math.random().toString(36).slice(2)}@example.com`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A fresh browser profile (its own cookies) with one tab on the app, and a virtual
// authenticator in that tab (it stays across navigations; other tabs do not see it).
async function openApp(t, tessera) {
  const context = await browser.newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const add = async () =>
    (await cdp.send('WebAuthn.addVirtualAuthenticator', { options: AUTHENTICATOR })).authenticatorId;
  let authenticatorId = await add();
  const authenticator = {
    // The passkeys it holds.
    async credentials() {
      return (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
    },
    // Another device: the old authenticator and its passkeys are gone, a new empty one is there.
    async replace() {
      await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId });
      authenticatorId = await add();
    },
  };
  await page.goto(appUrl(tessera));
  return { page, authenticator };
}

// Clicks a button and returns the JSON the page shows once the call has answered.
async function click(page, id) {
  await page.evaluate(() => { document.body.dataset.lastStatus = 'pending'; });
  await page.click(`#${id}`);
  await page.waitForFunction(() => document.body.dataset.lastStatus !== 'pending');
  return JSON.parse(await page.textContent('#result'));
}

// Signs up with a passkey through the app's button; returns the session it shows.
async function passkeySignUp(page, email) {
  await page.fill('#email', email);
  const signUp = await click(page, 'passkey-sign-up');
  assert.equal(signUp.status, 200, JSON.stringify(signUp));
  assert.equal(signUp.body.session.user.email, email);
  assert.equal(signUp.body.session.refreshToken, undefined, 'cookie mode: no refresh token in the body');
  assert.equal(await page.textContent('#signed-in'), 'yes');
  return signUp.body.session;
}

function assertRefused(result, status, error) {
  assert.equal(result.status, status, JSON.stringify(result));
  assert.equal(result.body.error, error, JSON.stringify(result));
}

// The origin a credential's clientDataJSON names (what the browser signed for).
function signedOrigin(credential) {
  return JSON.parse(Buffer.from(credential.response.clientDataJSON, 'base64url')).origin;
}

test('a passkey signs up, and signs in again later with no email typed', async (t) => {
  const { page, authenticator } = await openApp(t, TESSERA);
  const email = uniqueEmail('passkey');
  const session = await passkeySignUp(page, email);
  const userId = session.user.id;
  const held = await authenticator.credentials();
  assert.equal(held.length, 1, 'the authenticator holds the new passkey');
  assert.equal(held[0].rpId, 'localhost');
  assert.equal(held[0].isResidentCredential, true, 'a discoverable passkey');

  const signOut = await click(page, 'sign-out');
  assert.equal(signOut.status, 200, JSON.stringify(signOut));
  assert.equal(await page.textContent('#signed-in'), 'no');
  assert.equal((await click(page, 'who-am-i')).status, 401, 'signed out');

  // Nothing typed: the app asks for options with an empty body, Tessera allows any of the
  // site's passkeys, and the authenticator's passkey says whose account it is.
  await page.fill('#email', '');
  const sent = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && r.url() === `${TESSERA}/signin/webauthn`) sent.push(r.postData());
  });
  const optionsAnswer = page.waitForResponse(
    (r) => r.url() === `${TESSERA}/signin/webauthn` && r.request().method() === 'POST');
  const signIn = await click(page, 'passkey-sign-in');
  assert.deepEqual(sent, ['{}']);
  const options = await (await optionsAnswer).json();
  assert.deepEqual(options.allowCredentials, [], JSON.stringify(options));
  assert.equal(options.rpId, 'localhost');
  assert.equal(options.userVerification, 'required');
  assert.equal(signIn.status, 200, JSON.stringify(signIn));
  assert.equal(signIn.body.session.user.id, userId);
  assert.equal(signIn.body.session.user.email, email);
  assert.equal(signIn.body.session.refreshToken, undefined);
  assert.equal(await page.textContent('#signed-in'), 'yes');

  await page.reload();
  const me = await click(page, 'who-am-i');
  assert.equal(me.status, 200, JSON.stringify(me));
  assert.equal(me.body.id, userId);
});

test('a password account adds a passkey on each of two devices, and lists both', async (t) => {
  const { page, authenticator } = await openApp(t, TESSERA);
  const email = uniqueEmail('two-passkeys');
  await page.fill('#email', email);
  await page.fill('#password', PASSWORD);
  const signUp = await click(page, 'sign-up');
  assert.equal(signUp.status, 200, JSON.stringify(signUp));
  const userId = signUp.body.session.user.id;

  await page.fill('#passkey-nickname', 'Laptop');
  const first = await click(page, 'passkey-add');
  assert.equal(first.status, 200, JSON.stringify(first));
  assert.equal(first.body.nickname, 'Laptop');
  assert.equal(typeof first.body.id, 'string');

  // The same authenticator again: Tessera's options exclude the passkey it already holds,
  // so the authenticator itself refuses, and nothing reaches the verify route.
  await page.fill('#passkey-nickname', 'Laptop again');
  const again = await click(page, 'passkey-add');
  assert.equal(again.status, 0, JSON.stringify(again));
  assert.match(again.body, /InvalidStateError/);
  assert.equal((await authenticator.credentials()).length, 1);

  await authenticator.replace();
  await page.fill('#passkey-nickname', 'Phone');
  const second = await click(page, 'passkey-add');
  assert.equal(second.status, 200, JSON.stringify(second));
  assert.equal(second.body.nickname, 'Phone');
  assert.notEqual(second.body.id, first.body.id);

  // `{passkeys: [...]}`, oldest first (the shape of Tessera's other lists, /user/sessions
  // and /user/pats).
  const list = await click(page, 'passkey-list');
  assert.equal(list.status, 200, JSON.stringify(list));
  assert.deepEqual(list.body.passkeys.map((p) => [p.id, p.nickname]),
    [[first.body.id, 'Laptop'], [second.body.id, 'Phone']], JSON.stringify(list));

  // The passkey of the second device signs this account in.
  assert.equal((await click(page, 'sign-out')).status, 200);
  await page.fill('#email', '');
  const signIn = await click(page, 'passkey-sign-in');
  assert.equal(signIn.status, 200, JSON.stringify(signIn));
  assert.equal(signIn.body.session.user.id, userId);
});

test('a sign-in older than the recent-auth window steps up with a passkey to change the password', async (t) => {
  const { page } = await openApp(t, STEP_UP_TESSERA);
  const email = uniqueEmail('step-up');
  await page.fill('#email', email);
  await page.fill('#password', PASSWORD);
  const signUp = await click(page, 'sign-up');
  assert.equal(signUp.status, 200, JSON.stringify(signUp));
  const session = signUp.body.session;
  const added = await click(page, 'passkey-add');
  assert.equal(added.status, 200, JSON.stringify(added));

  await sleep(STEP_UP_WINDOW_MS + 1000);
  const newPassword = 'a-Stepped-up-passphrase-5';
  await page.fill('#changed-password', newPassword);
  const refused = await click(page, 'change-password');
  assertRefused(refused, 403, 'elevated-claim-required');

  const stepUp = await click(page, 'passkey-step-up');
  assert.equal(stepUp.status, 200, JSON.stringify(stepUp));
  assert.equal(stepUp.body.session.user.id, session.user.id);
  assert.notEqual(stepUp.body.session.refreshTokenId, session.refreshTokenId, 'a new session');
  assert.equal(stepUp.body.session.refreshToken, undefined);
  assert.equal(await page.textContent('#signed-in'), 'yes');

  const changed = await click(page, 'change-password');
  assert.equal(changed.status, 200, JSON.stringify(changed));
  assert.equal(changed.body, 'OK');
  const me = await click(page, 'who-am-i');
  assert.equal(me.status, 200, 'the stepped-up session is the one in the cookies');
  assert.equal(me.body.id, session.user.id);

  // The new password is the one that signs in now.
  await page.fill('#password', PASSWORD);
  assertRefused(await click(page, 'sign-in'), 401, 'invalid-email-password');
  await page.fill('#password', newPassword);
  const signIn = await click(page, 'sign-in');
  assert.equal(signIn.status, 200, JSON.stringify(signIn));
});

test('a passkey signature made on a page of an origin Tessera does not allow is refused', async (t) => {
  const { page } = await openApp(t, TESSERA);
  const userId = (await passkeySignUp(page, uniqueEmail('origin'))).user.id;
  assert.equal((await click(page, 'sign-out')).status, 200);

  // Options from the app, the signature on the other origin's page (same host, so the
  // browser signs for RP ID localhost), the verify from the app again.
  const options = await page.evaluate(() => call('POST', '/signin/webauthn', {}));
  assert.equal(options.status, 200, JSON.stringify(options));
  await page.goto(otherUrl(TESSERA));
  const credential = await page.evaluate((o) => getCredential(o), options.body);
  assert.equal(signedOrigin(credential), new URL(otherUrl(TESSERA)).origin);
  await page.goto(appUrl(TESSERA));
  const verify = await page.evaluate((c) => call('POST', '/signin/webauthn/verify', { credential: c }),
    credential);
  assertRefused(verify, 401, 'invalid-webauthn-credential');
  assert.equal((await click(page, 'who-am-i')).status, 401, 'still signed out');

  // The same passkey from the app's own origin signs in.
  const signIn = await click(page, 'passkey-sign-in');
  assert.equal(signIn.status, 200, JSON.stringify(signIn));
  assert.equal(signIn.body.session.user.id, userId);
});

test('a credential posted a second time is refused: its challenge is spent', async (t) => {
  const { page } = await openApp(t, TESSERA);
  const email = uniqueEmail('replay');
  await page.fill('#email', email);
  const signUp = await page.evaluate(async (email) => {
    const options = await call('POST', '/signup/webauthn', { email });
    const credential = await createCredential(options.body);
    const first = await call('POST', '/signup/webauthn/verify', { credential });
    const second = await call('POST', '/signup/webauthn/verify', { credential });
    return { options: options.status, first, second };
  }, email);
  assert.equal(signUp.options, 200, JSON.stringify(signUp));
  assert.equal(signUp.first.status, 200, JSON.stringify(signUp.first));
  const userId = signUp.first.body.session.user.id;
  assertRefused(signUp.second, 401, 'invalid-webauthn-challenge');

  const signIn = await page.evaluate(async () => {
    const options = await call('POST', '/signin/webauthn', {});
    const credential = await getCredential(options.body);
    const first = await call('POST', '/signin/webauthn/verify', { credential });
    const second = await call('POST', '/signin/webauthn/verify', { credential });
    return { options: options.status, first, second };
  });
  assert.equal(signIn.options, 200, JSON.stringify(signIn));
  assert.equal(signIn.first.status, 200, JSON.stringify(signIn.first));
  assert.equal(signIn.first.body.session.user.id, userId);
  assertRefused(signIn.second, 401, 'invalid-webauthn-challenge');
});

test('a ceremony finished after its challenge expired is refused', async (t) => {
  const { page } = await openApp(t, EXPIRY_TESSERA);
  const userId = (await passkeySignUp(page, uniqueEmail('expiry'))).user.id;
  assert.equal((await click(page, 'sign-out')).status, 200);

  // Options for a sign-in and for another sign-up, then a wait longer than their life.
  const late = uniqueEmail('expiry-late');
  const options = await page.evaluate(async (email) => ({
    signIn: await call('POST', '/signin/webauthn', {}),
    signUp: await call('POST', '/signup/webauthn', { email }),
  }), late);
  assert.equal(options.signIn.status, 200, JSON.stringify(options.signIn));
  assert.equal(options.signUp.status, 200, JSON.stringify(options.signUp));
  assert.equal(options.signIn.body.timeout, EXPIRY_TIMEOUT_MS, 'the browser is told how long it has');
  assert.equal(options.signUp.body.timeout, EXPIRY_TIMEOUT_MS);
  await sleep(EXPIRY_TIMEOUT_MS + 1500);

  const signIn = await page.evaluate(async (o) => {
    const credential = await getCredential(o);
    return call('POST', '/signin/webauthn/verify', { credential });
  }, options.signIn.body);
  assertRefused(signIn, 401, 'invalid-webauthn-challenge');
  assert.equal((await click(page, 'who-am-i')).status, 401, 'still signed out');
  // The same passkey in a ceremony of its own, at once, signs in. (Before the late
  // sign-up below: that one leaves a second passkey on the authenticator.)
  const fresh = await click(page, 'passkey-sign-in');
  assert.equal(fresh.status, 200, JSON.stringify(fresh));
  assert.equal(fresh.body.session.user.id, userId);
  assert.equal((await click(page, 'sign-out')).status, 200);

  const signUp = await page.evaluate(async (o) => {
    const credential = await createCredential(o);
    return call('POST', '/signup/webauthn/verify', { credential });
  }, options.signUp.body);
  assertRefused(signUp, 401, 'invalid-webauthn-challenge');
  assert.equal((await click(page, 'who-am-i')).status, 401, 'no account, no session');
});

test('a passkey of another account cannot answer a step-up', async (t) => {
  // Two people, each in their own browser with their own authenticator.
  const alice = await openApp(t, TESSERA);
  await passkeySignUp(alice.page, uniqueEmail('alice'));
  const [aliceKey] = await alice.authenticator.credentials();
  const bob = await openApp(t, TESSERA);
  const bobId = (await passkeySignUp(bob.page, uniqueEmail('bob'))).user.id;
  const [bobKey] = await bob.authenticator.credentials();

  // Bob's step-up options name Bob's passkey; without that list, Alice's authenticator
  // answers with Alice's passkey, which Bob's session then posts.
  const options = await bob.page.evaluate(() => call('POST', '/elevate/webauthn', {}));
  assert.equal(options.status, 200, JSON.stringify(options));
  assert.deepEqual(options.body.allowCredentials.map((c) => c.id),
    [Buffer.from(bobKey.credentialId, 'base64').toString('base64url')]);
  const credential = await alice.page.evaluate(
    (o) => getCredential({ ...o, allowCredentials: [] }), options.body);
  assert.equal(credential.id, Buffer.from(aliceKey.credentialId, 'base64').toString('base64url'));
  const verify = await bob.page.evaluate(
    (c) => call('POST', '/elevate/webauthn/verify', { credential: c }), credential);
  assertRefused(verify, 401, 'invalid-webauthn-credential');

  // Bob's own passkey steps Bob up.
  const stepUp = await click(bob.page, 'passkey-step-up');
  assert.equal(stepUp.status, 200, JSON.stringify(stepUp));
  assert.equal(stepUp.body.session.user.id, bobId);
});
