// Sign-in with an OpenID Connect provider, in a real headless Chromium (Debian's, driven by
// playwright-core): a tiny app page makes a PKCE pair, sends the browser to Tessera, the
// user logs in on the provider's own page, and the app trades the code it gets back for a
// session at POST /token/exchange.
//
// Environment (tests/api/browser.rs sets it up):
//   TESSERA_URL        a Tessera at http://localhost:PORT, the app's origin allowed, with two
//                      providers on one issuer: `acme` (response_mode=query) and `acme-post`
//                      (response_mode=form_post)
//   PROVIDER_ISSUER    the provider (oidc-provider), http://127.0.0.1:PORT: another site than
//                      localhost, so its way back to Tessera is cross-site for the browser
//   PROVIDER_ACCOUNTS  its accounts, JSON [{sub, email, ...}]; the login is the sub
//   APP_PORT           port to serve the app on, at http://localhost:APP_PORT
//   CHROMIUM           the browser binary (default /usr/bin/chromium)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { chromium } from 'playwright-core';

const TESSERA = process.env.TESSERA_URL;
const ISSUER = process.env.PROVIDER_ISSUER;
const ACCOUNTS = JSON.parse(process.env.PROVIDER_ACCOUNTS || '[]');
const APP_PORT = Number(process.env.APP_PORT);
const APP = `http://localhost:${APP_PORT}`;
const FLOW_COOKIE = 'tessera-provider-flow';

// The app: `/` has a "Sign in with <provider>" button that makes a PKCE verifier (kept in
// sessionStorage) and its S256 challenge and goes to Tessera; `/callback` trades the code
// it is sent back with for a session, and shows who is signed in (or the error).
const INDEX = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>App</title></head>
<body>
  <button id="sign-in">Sign in</button>
  <script type="module">
    const params = new URLSearchParams(location.search);
    const tessera = params.get('tessera');
    const provider = params.get('provider');
    const b64url = (bytes) => btoa(String.fromCharCode(...bytes))
      .replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
    document.getElementById('sign-in').textContent = 'Sign in with ' + provider;
    document.getElementById('sign-in').addEventListener('click', async () => {
      const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
      const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
      const challenge = b64url(new Uint8Array(digest));
      sessionStorage.setItem('pkce', JSON.stringify({ verifier, challenge, tessera }));
      const url = new URL(tessera + '/signin/provider/' + provider);
      url.searchParams.set('redirectTo', location.origin + '/callback');
      url.searchParams.set('codeChallenge', challenge);
      location.assign(url);
    });
    document.body.dataset.ready = 'yes';
  </script>
</body></html>`;

const CALLBACK = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Callback</title></head>
<body>
  <p id="signed-in"></p>
  <pre id="result"></pre>
  <script type="module">
    const params = new URLSearchParams(location.search);
    const { verifier, tessera } = JSON.parse(sessionStorage.getItem('pkce') || '{}');
    sessionStorage.removeItem('pkce');
    let result;
    if (params.has('error')) {
      result = { error: params.get('error'), errorDescription: params.get('errorDescription') };
      document.getElementById('signed-in').textContent = 'Sign-in failed: ' + result.error;
    } else {
      const response = await fetch(tessera + '/token/exchange', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ code: params.get('code'), codeVerifier: verifier }),
      });
      result = { status: response.status, body: await response.json(), verifier };
      const user = result.body.session?.user;
      document.getElementById('signed-in').textContent =
        user ? 'Signed in as ' + user.email : 'Not signed in';
    }
    document.getElementById('result').textContent = JSON.stringify(result);
    document.body.dataset.done = 'yes';
  </script>
</body></html>`;

function appHandler(req, res) {
  const path = new URL(req.url, APP).pathname;
  const page = { '/': INDEX, '/callback': CALLBACK }[path];
  if (!page) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'text/html', 'cache-control': 'no-store' }).end(page);
}

let browser;
let appServer;
before(async () => {
  assert.ok(TESSERA && ISSUER && APP_PORT && ACCOUNTS.length >= 3,
    'TESSERA_URL, PROVIDER_ISSUER, PROVIDER_ACCOUNTS (three accounts) and APP_PORT must be set');
  assert.notEqual(new URL(ISSUER).hostname, new URL(TESSERA).hostname,
    'the provider must be another site than Tessera');
  appServer = await new Promise((resolve) => {
    const server = createServer(appHandler);
    server.listen(APP_PORT, 'localhost', () => resolve(server));
  });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => {
  await browser?.close();
  appServer?.close();
});

const account = (sub) => ACCOUNTS.find((a) => a.sub === sub);
const withoutQuery = (url) => { const u = new URL(url); return u.origin + u.pathname; };

// Runs `wait`; on failure, says where the browser is and how it got there.
async function waitOrExplain(page, navigations, wait, what) {
  try {
    await wait();
  } catch (error) {
    const hops = [];
    for (const request of navigations) {
      const response = await request.response().catch(() => null);
      hops.push(`${request.method()} ${request.url()} -> ${response?.status()} `
        + `${(await response?.headerValue('location').catch(() => null)) ?? ''}`);
    }
    const body = (await page.content().catch(() => '')).slice(0, 2000);
    throw new Error(`waiting for ${what}: ${error.message}\nat ${page.url()}\n`
      + `navigations:\n${hops.join('\n')}\npage:\n${body}`);
  }
}

// Signs in through `provider` as `login` in a fresh browser profile: clicks the app's
// button, checks the flow cookie in the browser's jar while the provider's login page is
// open, logs in there, and waits for the app's callback page. Returns what it saw: the
// flow cookie, every top-level navigation request (each redirect hop; method, URL, status,
// whether it carried the flow cookie), the final URL and what the app showed.
async function signIn(t, provider, login) {
  const context = await browser.newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  const navigations = [];
  page.on('request', (request) => {
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()) {
      navigations.push(request);
    }
  });

  await page.goto(`${APP}/?tessera=${encodeURIComponent(TESSERA)}&provider=${provider}`);
  await page.waitForSelector('body[data-ready="yes"]');
  await page.click('#sign-in');

  // At the provider: its own login page, on its own site.
  await waitOrExplain(page, navigations, () => page.waitForSelector('input#login'),
    'the provider\'s login page');
  assert.equal(new URL(page.url()).origin, ISSUER, page.url());
  assert.match(new URL(page.url()).pathname, /^\/interaction\//);
  // The jar's cookies a request to Tessera's callback would carry (by host and path).
  const forCallback = `${TESSERA}/signin/provider/${provider}/callback`;
  const flowCookies = (await context.cookies(forCallback)).filter((c) => c.name === FLOW_COOKIE);
  assert.equal(flowCookies.length, 1, 'Tessera set its flow cookie before leaving for the provider');
  // Cookies are not port-specific: the jar holds it for the host, localhost.
  assert.equal((await context.cookies(`${ISSUER}/signin/provider/${provider}/callback`))
    .some((c) => c.name === FLOW_COOKIE), false, 'the flow cookie stays with Tessera\'s host');
  assert.equal((await context.cookies(TESSERA)).some((c) => c.name === FLOW_COOKIE), false,
    'the flow cookie is only sent to Tessera\'s provider paths');

  await page.fill('input#login', login);
  await page.click('button#submit');
  await waitOrExplain(page, navigations, async () => {
    await page.waitForURL((url) => url.origin === APP && url.pathname === '/callback');
    await page.waitForSelector('body[data-done="yes"]');
  }, 'the app\'s callback');

  const hops = [];
  for (const request of navigations) {
    const response = await request.response();
    const cookie = (await request.headerValue('cookie')) || '';
    hops.push({
      method: request.method(),
      url: request.url(),
      status: response?.status(),
      location: response ? await response.headerValue('location') : null,
      flowCookie: cookie.split(/;\s*/).some((c) => c.startsWith(`${FLOW_COOKIE}=`)),
    });
  }
  return {
    page,
    flowCookie: flowCookies[0],
    hops,
    finalUrl: new URL(page.url()),
    signedIn: await page.textContent('#signed-in'),
    result: JSON.parse(await page.textContent('#result')),
  };
}

// What every successful sign-in shows: the app got a session for the provider account's
// email, and no URL the browser visited carried a token (only the one-time code, once).
async function assertSignedIn(seen, sub) {
  const { email } = account(sub);
  assert.equal(seen.signedIn, `Signed in as ${email}`,
    `${JSON.stringify(seen.result)}\n${describe(seen.hops)}`);
  assert.equal(seen.result.error, undefined, JSON.stringify(seen.result));
  assert.equal(seen.result.status, 200, JSON.stringify(seen.result));
  const { session } = seen.result.body;
  assert.equal(session.user.email, email);
  assert.equal(session.user.emailVerified, true);
  assert.equal(typeof session.accessToken, 'string');
  assert.equal(typeof session.refreshToken, 'string');

  assert.deepEqual([...seen.finalUrl.searchParams.keys()], ['code'], seen.finalUrl.href);
  const code = seen.finalUrl.searchParams.get('code');
  assert.ok(code.length > 0);
  const callbacks = seen.hops.filter((h) => withoutQuery(h.url) === `${APP}/callback`);
  assert.equal(callbacks.length, 1, 'the app\'s callback was opened once');
  for (const hop of seen.hops) {
    for (const secret of [session.accessToken, session.refreshToken, seen.flowCookie.value,
      seen.result.verifier]) {
      assert.ok(!hop.url.includes(secret), `a secret in a URL: ${hop.method} ${hop.url}`);
    }
  }

  // The code is good once: the app's second try is refused.
  const replay = await seen.page.evaluate(async ({ tessera, code, verifier }) => {
    const response = await fetch(`${tessera}/token/exchange`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code, codeVerifier: verifier }),
    });
    return { status: response.status, body: await response.json() };
  }, { tessera: TESSERA, code, verifier: seen.result.verifier });
  assert.equal(replay.status, 401, JSON.stringify(replay));
  assert.equal(replay.body.error, 'invalid-ticket', JSON.stringify(replay));
  return session;
}

// The hops of the flow, for the report: `GET http://localhost:1234/signin/provider/acme 302`.
const describe = (hops) => hops.map((h) =>
  `${h.method} ${withoutQuery(h.url)} ${h.status}${h.flowCookie ? ' [flow cookie]' : ''}`).join('\n');

test('the flow cookie is HttpOnly and SameSite=Lax, for Tessera\'s provider paths only',
  async (t) => {
    const seen = await signIn(t, 'acme', 'carol');
    const cookie = seen.flowCookie;
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Lax');
    assert.equal(cookie.path, '/signin/provider');
    assert.equal(cookie.domain, 'localhost');
    // TESSERA_COOKIE_SECURE defaults to true; Chromium keeps a Secure cookie of
    // http://localhost (a secure context), so the flow works there as over https.
    assert.equal(cookie.secure, true);
    const lifetime = cookie.expires - Date.now() / 1000;
    assert.ok(lifetime > 0 && lifetime <= 600 + 5, `expires in ${lifetime} s (10 minutes at most)`);
    // Neither the app's page nor the provider's can read it.
    assert.equal(await seen.page.evaluate(() => document.cookie.includes('tessera-provider-flow')),
      false);
    await assertSignedIn(seen, 'carol');
  });

test('sign-up with a provider that redirects back (response_mode=query)', async (t) => {
  const seen = await signIn(t, 'acme', 'alice');
  const session = await assertSignedIn(seen, 'alice');
  t.diagnostic(`acme:\n${describe(seen.hops)}`);

  // The provider's redirect back is a top-level GET from another site: the Lax cookie
  // comes along, and Tessera sends the browser on to the app.
  const back = seen.hops.filter((h) => h.url.startsWith(`${TESSERA}/signin/provider/acme/callback`));
  assert.equal(back.length, 1, describe(seen.hops));
  assert.equal(back[0].method, 'GET');
  assert.equal(back[0].status, 302);
  assert.equal(back[0].flowCookie, true, 'the Lax cookie rides the cross-site redirect');
  assert.ok(back[0].location.startsWith(`${APP}/callback?code=`), back[0].location);
  assert.ok(!seen.hops.some((h) => h.method === 'POST' && h.url.includes('/callback')),
    describe(seen.hops));

  // The same provider account again, in another browser: the same user, signed in.
  const again = await signIn(t, 'acme', 'alice');
  const second = await assertSignedIn(again, 'alice');
  assert.equal(second.user.id, session.user.id);
});

test('sign-up with a provider that posts back (response_mode=form_post)', async (t) => {
  const seen = await signIn(t, 'acme-post', 'bob');
  await assertSignedIn(seen, 'bob');
  t.diagnostic(`acme-post:\n${describe(seen.hops)}`);

  // The provider's page posts the answer to Tessera cross-site: no Lax cookie with it.
  // Tessera answers 303 to its GET callback, which the browser follows with the cookie.
  const callback = `${TESSERA}/signin/provider/acme-post/callback`;
  const posted = seen.hops.findIndex((h) => h.method === 'POST' && withoutQuery(h.url) === callback);
  assert.ok(posted >= 0, `no POST to the callback:\n${describe(seen.hops)}`);
  const post = seen.hops[posted];
  assert.equal(post.status, 303);
  assert.equal(post.flowCookie, false, 'SameSite=Lax keeps the cookie off a cross-site POST');
  assert.ok(post.location.startsWith(`${callback}?`), post.location);
  const get = seen.hops[posted + 1];
  assert.equal(get.method, 'GET');
  assert.equal(withoutQuery(get.url), callback);
  assert.equal(get.status, 302);
  assert.equal(get.flowCookie, true, 'the cookie comes back on the GET the 303 leads to');
  assert.ok(get.location.startsWith(`${APP}/callback?code=`), get.location);
});
