// The example app (examples/browser) in a real headless Chromium (Debian's, driven by
// playwright-core) against a running Tessera, over cookies only.
//
// Environment (tests/api/browser.rs sets it up):
//   TESSERA_URL  where Tessera listens, e.g. http://localhost:4123 (its public URL)
//   APP_PORT     port to serve the example app on, at http://localhost:APP_PORT (an allowed
//                origin of that Tessera)
//   CHROMIUM     the browser binary (default /usr/bin/chromium)
//   OUTBOX_DIR   where that Tessera writes its messages (.eml files)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFile, readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const TESSERA = process.env.TESSERA_URL;
const APP_PORT = Number(process.env.APP_PORT);
const APP_DIR = fileURLToPath(new URL('../../examples/browser/', import.meta.url));
const PASSWORD = 'correct-Horse-battery-9';

// A static server for the example app, and a "foreign" page on another site (127.0.0.1 is
// a different site from localhost) that tries to use the session.
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

function foreignHandler(req, res) {
  res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><body>
    <form id="f" method="POST" action="${TESSERA}/signout" enctype="text/plain">
      <input name='{"all":true,"x":"' value='"}'></form>
    <script>
      window.attack = async () => {
        const results = {};
        for (const path of ['/token', '/signout']) {
          try {
            const r = await fetch('${TESSERA}' + path, { method: 'POST', credentials: 'include',
              headers: { 'content-type': 'application/json', 'tessera-auth-mode': 'cookie' },
              body: '{"all":true}' });
            results[path] = r.status;
          } catch (e) { results[path] = 'blocked'; }
          try {
            const r = await fetch('${TESSERA}' + path, { method: 'POST', credentials: 'include',
              mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: '{"all":true}' });
            results[path + ' no-cors'] = r.type;
          } catch (e) { results[path + ' no-cors'] = 'blocked'; }
        }
        return results;
      };
    </script></body>`);
}

test('the example app signs up, stays signed in, refreshes and signs out through cookies', async (t) => {
  assert.ok(TESSERA && APP_PORT, 'TESSERA_URL and APP_PORT must be set');
  const appServer = await serve(APP_PORT, 'localhost', appHandler);
  const foreignServer = await serve(0, '127.0.0.1', foreignHandler);
  const foreignUrl = `http://127.0.0.1:${foreignServer.address().port}/`;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.after(async () => {
    await browser.close();
    appServer.close();
    foreignServer.close();
  });
  const context = await browser.newContext();
  const page = await context.newPage();
  const appUrl = `http://localhost:${APP_PORT}/?tessera=${encodeURIComponent(TESSERA)}`;
  const email = `browser-${Date.now()}-${Math.random().toString(36).slice(2)}@example.com`;

  // Clicks a button and returns the JSON the page shows once the call has answered.
  async function click(id) {
    await page.evaluate(() => { document.body.dataset.lastStatus = 'pending'; });
    await page.click(`#${id}`);
    await page.waitForFunction(() => document.body.dataset.lastStatus !== 'pending');
    return JSON.parse(await page.textContent('#result'));
  }
  async function tesseraCookies() {
    const all = await context.cookies(TESSERA);
    return Object.fromEntries(all.map((c) => [c.name, c]));
  }

  await page.goto(appUrl);
  await page.fill('#email', email);
  await page.fill('#password', PASSWORD);
  const signUp = await click('sign-up');
  assert.equal(signUp.status, 200, JSON.stringify(signUp));
  assert.equal(signUp.body.session.user.email, email);
  assert.equal(signUp.body.session.refreshToken, undefined, 'no refresh token in the body');

  // Scripts see the hint, never the tokens.
  const visible = await page.evaluate(() => document.cookie);
  assert.match(visible, /(^|; )tessera-session=/);
  assert.doesNotMatch(visible, /tessera-token|refresh/);
  let cookies = await tesseraCookies();
  assert.equal(cookies['__Host-tessera-token']?.httpOnly, true, JSON.stringify(Object.keys(cookies)));
  assert.equal(cookies['__Host-tessera-token'].sameSite, 'Strict');
  const firstRefresh = (await context.cookies(`${TESSERA}/token`))
    .find((c) => c.name === '__Secure-tessera-refresh-token');
  assert.ok(firstRefresh?.httpOnly, 'the refresh cookie is HttpOnly');
  assert.equal(firstRefresh.path, '/token');

  // A reload stays signed in: the access cookie authenticates GET /user.
  await page.reload();
  assert.equal(await page.textContent('#signed-in'), 'yes');
  const me = await click('who-am-i');
  assert.equal(me.status, 200, JSON.stringify(me));
  assert.equal(me.body.email, email);

  // Refresh through cookies: a new refresh cookie, still invisible to scripts.
  const refreshed = await click('refresh');
  assert.equal(refreshed.status, 200, JSON.stringify(refreshed));
  assert.equal(refreshed.body.refreshToken, undefined);
  const secondRefresh = (await context.cookies(`${TESSERA}/token`))
    .find((c) => c.name === '__Secure-tessera-refresh-token');
  assert.notEqual(secondRefresh.value, firstRefresh.value, 'rotated');

  // A page on a foreign site can neither refresh nor sign out this session.
  const foreign = await context.newPage();
  await foreign.goto(foreignUrl);
  const attack = await foreign.evaluate(() => window.attack());
  assert.equal(attack['/token'], 'blocked', JSON.stringify(attack));
  assert.equal(attack['/signout'], 'blocked', JSON.stringify(attack));
  const formSubmit = foreign.waitForNavigation();
  await foreign.evaluate(() => document.getElementById('f').submit());
  await formSubmit;
  await foreign.close();
  const stillThere = (await context.cookies(`${TESSERA}/token`))
    .find((c) => c.name === '__Secure-tessera-refresh-token');
  assert.equal(stillThere?.value, secondRefresh.value, 'the foreign page changed nothing');
  const afterAttack = await click('who-am-i');
  assert.equal(afterAttack.status, 200, 'the session survived the foreign page');
  const refreshAfterAttack = await click('refresh');
  assert.equal(refreshAfterAttack.status, 200, 'and its refresh token is still the live one');

  // Sign-out clears every cookie and ends the session server-side.
  const signOut = await click('sign-out');
  assert.equal(signOut.status, 200);
  assert.equal(signOut.body, 'OK');
  assert.equal(await page.textContent('#signed-in'), 'no');
  cookies = await tesseraCookies();
  assert.deepEqual(Object.keys(cookies).filter((n) => n.includes('tessera')), []);
  assert.equal((await context.cookies(`${TESSERA}/token`)).length, 0);
  const afterSignOut = await click('who-am-i');
  assert.equal(afterSignOut.status, 401);
});

// The /verify link of the newest message to `to` in the outbox, quoted-printable undone.
async function emailedLink(to) {
  for (let attempt = 0; attempt < 100; attempt++) {
    const names = (await readdir(process.env.OUTBOX_DIR)).filter((n) => n.endsWith('.eml')).sort();
    for (const name of names.reverse()) {
      const raw = await readFile(`${process.env.OUTBOX_DIR}/${name}`, 'utf8');
      const text = raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g,
        (_, hex) => String.fromCharCode(parseInt(hex, 16)));
      if (!text.includes(`To: ${to}`)) continue;
      const link = text.match(/https?:\/\/[^\s"<]*\/verify\?[^\s"<]*/);
      if (link) return link[0];
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no link to ${to} in the outbox`);
}

test('a reset link leads to the example\'s form, with the ticket in the fragment only', async (t) => {
  assert.ok(TESSERA && APP_PORT && process.env.OUTBOX_DIR, 'TESSERA_URL, APP_PORT, OUTBOX_DIR');
  const appServer = await serve(APP_PORT, 'localhost', appHandler);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.after(async () => {
    await browser.close();
    appServer.close();
  });
  const context = await browser.newContext();
  const page = await context.newPage();
  // Every request the browser makes, with its Referer: none may carry the form's ticket.
  const requests = [];
  page.on('request', (r) => requests.push(`${r.url()} ${r.headers().referer ?? ''}`));
  const appUrl = `http://localhost:${APP_PORT}/?tessera=${encodeURIComponent(TESSERA)}`;
  const email = `reset-${Date.now()}-${Math.random().toString(36).slice(2)}@example.com`;
  const signUp = await fetch(`${TESSERA}/signup/email-password`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  assert.equal(signUp.status, 200);

  async function click(id) {
    await page.evaluate(() => { document.body.dataset.lastStatus = 'pending'; });
    await page.click(`#${id}`);
    await page.waitForFunction(() => document.body.dataset.lastStatus !== 'pending');
    return JSON.parse(await page.textContent('#result'));
  }

  await page.goto(appUrl);
  await page.fill('#email', email);
  const forgot = await click('forgot');
  assert.equal(forgot.status, 200, JSON.stringify(forgot));
  const link = await emailedLink(email);

  await page.goto(link);
  await page.waitForSelector('#reset:not([hidden])');
  assert.equal(await page.evaluate(() => location.hash), '', 'the page cleared the fragment');
  const newPassword = 'a-New-passphrase-for-7';
  await page.fill('#new-password', newPassword);
  const set = await click('set-password');
  assert.equal(set.status, 200, JSON.stringify(set));

  // The emailed ticket was in the link; the form's ticket was in no request at all.
  const landing = requests.find((r) => r.startsWith(`http://localhost:${APP_PORT}/`)
    && r.includes('?tessera=') && requests.indexOf(r) > 0);
  assert.ok(landing, JSON.stringify(requests));
  assert.ok(requests.every((r) => !/[#&?]ticket=/.test(r.replace(link, ''))),
    JSON.stringify(requests));

  await page.fill('#email', email);
  await page.fill('#password', newPassword);
  const signIn = await click('sign-in');
  assert.equal(signIn.status, 200, JSON.stringify(signIn));
  const again = await fetch(link, { redirect: 'manual' });
  assert.match(again.headers.get('location') ?? '', /error=invalid-ticket/, 'the link is spent');
});
