// The OAuth provider's shipped login and consent pages (/oauth2/ui) in a real headless
// Chromium (Debian's, driven by playwright-core) with JavaScript turned off: a small app
// on another origin starts the authorization code flow with PKCE, the user signs in and
// allows the app by typing into labelled fields and clicking buttons, and the app
// exchanges the code it receives for an ID token.
//
// Environment (tests/api/oauth2_pages.rs sets it up):
//   TESSERA_URL    where Tessera listens, e.g. http://localhost:4123 (its public URL)
//   APP_PORT       port of the app, at http://localhost:APP_PORT; its redirect URI
//                  http://localhost:APP_PORT/callback is registered for CLIENT_ID
//   CLIENT_ID, CLIENT_SECRET   a confidential, third-party client (consent is asked)
//   USER_EMAIL, USER_ID        a signed-up user (password correct-Horse-battery-9)
//   CHROMIUM       the browser binary (default /usr/bin/chromium)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';

const TESSERA = process.env.TESSERA_URL;
const APP_PORT = Number(process.env.APP_PORT);
const APP = `http://localhost:${APP_PORT}`;
const REDIRECT_URI = `${APP}/callback`;
const { CLIENT_ID, CLIENT_SECRET, USER_EMAIL, USER_ID } = process.env;
const PASSWORD = 'correct-Horse-battery-9';

const base64url = (bytes) => Buffer.from(bytes).toString('base64url');

// The app: its callback page records what the browser brought back.
function startApp() {
  const callbacks = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url, APP);
    if (url.pathname !== '/callback') {
      res.writeHead(404).end();
      return;
    }
    callbacks.push(url.searchParams);
    res.writeHead(200, { 'content-type': 'text/html' })
      .end('<!doctype html><title>App</title><h1>Back in the app</h1>');
  });
  return new Promise((resolve) => server.listen(APP_PORT, 'localhost', () => resolve({ server, callbacks })));
}

test('sign in and allow an app on the shipped pages, without JavaScript', async (t) => {
  for (const [name, value] of Object.entries({ TESSERA, APP_PORT, CLIENT_ID, CLIENT_SECRET, USER_EMAIL, USER_ID })) {
    assert.ok(value, `${name} must be set`);
  }
  const { server, callbacks } = await startApp();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.after(async () => {
    await browser.close();
    server.close();
  });
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const blocked = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused/i.test(message.text())) blocked.push(message.text());
  });

  // PKCE, computed by the app.
  const verifier = base64url(randomBytes(32));
  const challenge = base64url(createHash('sha256').update(verifier).digest());
  const state = base64url(randomBytes(12));
  const authorize = new URL(`${TESSERA}/oauth2/authorize`);
  for (const [name, value] of Object.entries({
    response_type: 'code',
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile email',
    state,
    nonce: 'e2e-nonce',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  })) {
    authorize.searchParams.set(name, value);
  }

  // The app sends the browser to Tessera: the sign-in page.
  const landing = await page.goto(authorize.href);
  assert.equal(landing.status(), 200);
  assert.equal(new URL(page.url()).pathname, '/oauth2/ui');
  assert.equal(landing.headers()['x-frame-options'], 'DENY');
  assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Sign in');
  assert.match(await page.locator('main').textContent(), /Sign in to continue to Pages E2E App/);
  assert.equal(await page.locator('script').count(), 0, 'no script on the page');

  // A wrong password first: the form again, with the problem announced.
  await page.getByLabel('Email').fill(USER_EMAIL);
  await page.getByLabel('Password').fill('not-the-Password-1');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForLoadState();
  assert.match(await page.getByRole('alert').textContent(), /not right/);
  assert.equal(await page.getByLabel('Email').inputValue(), USER_EMAIL, 'the email is kept');

  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Allow Pages E2E App?' }).waitFor();
  const asks = await page.getByRole('listitem').allTextContents();
  assert.deepEqual(asks, ['Know who you are', 'See your name and picture', 'See your email address']);

  // Allow: back at the app's callback with the code and the state.
  await Promise.all([
    page.waitForURL(`${REDIRECT_URI}?**`),
    page.getByRole('button', { name: 'Allow' }).click(),
  ]);
  assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Back in the app');
  assert.equal(callbacks.length, 1);
  const back = callbacks[0];
  assert.equal(back.get('state'), state);
  assert.equal(back.get('error'), null);
  assert.ok(back.get('iss'), 'iss (RFC 9207)');
  const code = back.get('code');
  assert.ok(code, 'a code');
  assert.deepEqual(blocked, [], 'nothing was blocked by the pages\' policy');

  // The app exchanges the code (client_secret_basic) for an ID token about this user.
  const response = await fetch(`${TESSERA}/oauth2/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
    }),
  });
  const tokens = await response.json();
  assert.equal(response.status, 200, JSON.stringify(tokens));
  assert.ok(tokens.access_token);
  const claims = JSON.parse(Buffer.from(tokens.id_token.split('.')[1], 'base64url').toString());
  assert.equal(claims.sub, USER_ID);
  assert.deepEqual([claims.aud].flat(), [CLIENT_ID]);
  assert.equal(claims.nonce, 'e2e-nonce');
  assert.equal(claims.iss, back.get('iss'));
});
