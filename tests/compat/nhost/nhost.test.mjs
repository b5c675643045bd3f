// Runs the official @nhost/nhost-js SDK (pinned 4.7.0) against a running Tessera server:
// the session lifecycle, and personal access tokens (createPAT, signInPAT).
//
//   cd tests/compat/nhost && npm ci
//   TESSERA_URL=http://127.0.0.1:4000/v1 npm test
//
// TESSERA_URL is what an app passes as `createClient({ authUrl })`: Tessera's public URL
// (TESSERA_PUBLIC_URL, with its base path) followed by /v1, where Tessera serves the same
// API for Nhost clients. The server must not require email verification for sign-up
// (sign-up has to return a session). tests/api/compat.rs runs this against both stores.
//
// TESSERA_OUTBOX_DIR, when set, is the server's outbox directory (TESSERA_OUTBOX_DIR of a
// server without TESSERA_SMTP_URL): the email one-time-code test reads the code from the
// message written there, and is skipped without it.
//
// Why the base path should end in /v1: the SDK's refresh middleware only recognises the
// refresh request itself by `url.endsWith('/v1/token')`
// (dist/src/fetch/middlewareSessionRefresh.js). With any other auth URL, the request that
// refreshes the session re-enters the refresh logic: in browsers (navigator.locks) a forced or
// due refresh deadlocks on the SDK's 'nhostSessionLock', and without Web Locks an expired
// session recurses without ever reaching the network (upstream nhost/nhost#4886). Node 20 has
// no navigator.locks, so the lifecycle test below would pass with either URL; the first test
// makes the requirement explicit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from '@nhost/nhost-js';
import { FetchError } from '@nhost/nhost-js/fetch';
import { MemoryStorage } from '@nhost/nhost-js/session';

const PASSWORD = 'correct-Horse-battery-9';

const rawUrl = process.env.TESSERA_URL;
const outbox = process.env.TESSERA_OUTBOX_DIR;

if (!rawUrl) {
  test('TESSERA_URL is set', () => {
    assert.fail(
      'TESSERA_URL is not set. Start Tessera and run, e.g., ' +
        'TESSERA_URL=http://127.0.0.1:4000/v1 npm test (in tests/compat/nhost).',
    );
  });
} else {
  const authUrl = rawUrl.replace(/\/+$/, '');
  let parsed;
  try {
    parsed = new URL(authUrl);
  } catch {
    parsed = null;
  }

  test('TESSERA_URL is a usable nhost-js authUrl (http(s), path ends in /v1)', () => {
    assert.ok(parsed, `TESSERA_URL is not a valid URL: ${JSON.stringify(rawUrl)}`);
    assert.match(parsed.protocol, /^https?:$/, `TESSERA_URL must be http(s): ${rawUrl}`);
    assert.ok(
      parsed.pathname.endsWith('/v1'),
      `TESSERA_URL path is ${JSON.stringify(parsed.pathname)}; nhost-js 4.7.0 only skips its ` +
        "own refresh middleware for URLs ending in '/v1/token', so refreshes deadlock in " +
        'browsers unless the auth URL ends in /v1. Tessera serves its API under ' +
        `<public URL>/v1 too: set TESSERA_URL to ${parsed.origin}/v1 (plus any base path).`,
    );
  });

  test('nhost-js: sign up, sign in, refresh, get user, sign out', { skip: !parsed }, async (t) => {
    // Each step depends on the previous ones; once one fails, the rest are skipped so the
    // report shows the first real failure instead of a cascade of TypeErrors.
    let failed = false;
    const step = (name, fn) =>
      t.test(name, { skip: failed && 'an earlier step failed' }, async () => {
        try {
          await fn();
        } catch (err) {
          failed = true;
          if (err instanceof TypeError && err.message === 'fetch failed') {
            throw new Error(`cannot reach Tessera at ${authUrl}: ${err.cause?.code ?? err.cause}`, {
              cause: err,
            });
          }
          throw err;
        }
      });

    // In Node there is no window, so createClient would pick MemoryStorage by itself
    // (detectStorage); passing it makes the choice explicit.
    const nhost = createClient({ authUrl, storage: new MemoryStorage() });
    const email = `nhost-${Date.now()}-${randomBytes(4).toString('hex')}@example.com`;

    let signUp; // Session from sign-up
    let signIn; // Session from sign-in
    let refreshed; // Session after the forced refresh

    await step('signUpEmailPassword returns a session and the SDK stores it', async () => {
      const res = await nhost.auth.signUpEmailPassword({ email, password: PASSWORD });
      signUp = res.body.session;
      assert.ok(
        signUp,
        `sign-up returned no session (body ${JSON.stringify(res.body)}); ` +
          'is email verification required on this server?',
      );
      assertSession(signUp, email);

      const stored = nhost.getUserSession();
      assert.ok(stored, 'the SDK did not store the sign-up session');
      assert.equal(stored.accessToken, signUp.accessToken);
      assert.equal(stored.refreshToken, signUp.refreshToken);
      assertUsableExpiry(stored);
    });

    await step('a wrong password is rejected with a FetchError 401 the SDK can read', async () => {
      await assert.rejects(
        nhost.auth.signInEmailPassword({ email, password: `${PASSWORD}-wrong` }),
        (err) => {
          assert.ok(err instanceof FetchError, `expected a FetchError, got ${err?.name}: ${err}`);
          assert.equal(err.status, 401);
          assert.equal(err.body?.error, 'invalid-email-password');
          assert.equal(typeof err.body?.message, 'string');
          assert.equal(err.message, err.body.message);
          return true;
        },
      );
    });

    await step('signInEmailPassword returns a new session for the same user', async () => {
      nhost.clearSession();
      const res = await nhost.auth.signInEmailPassword({ email, password: PASSWORD });
      signIn = res.body.session;
      assert.ok(signIn, `sign-in returned no session (body ${JSON.stringify(res.body)})`);
      assert.ok(!res.body.mfa, `sign-in asked for MFA: ${JSON.stringify(res.body.mfa)}`);
      assertSession(signIn, email);
      assert.equal(signIn.user.id, signUp.user.id);
      assert.notEqual(signIn.refreshToken, signUp.refreshToken);

      const stored = nhost.getUserSession();
      assert.ok(stored, 'the SDK did not store the sign-in session');
      assert.equal(stored.accessToken, signIn.accessToken);
      assert.equal(stored.refreshToken, signIn.refreshToken);
      assertUsableExpiry(stored);
    });

    await step('refreshSession(0) forces a refresh through the SDK and rotates the tokens', async () => {
      // Access tokens carry whole-second iat/exp; if the refresh happened in the same second
      // as the sign-in, a deterministic ES256 signature over identical claims could make the
      // "new" access token byte-identical. Cross a second boundary first.
      await sleep(1100);
      const before = nhost.getUserSession();
      // marginSeconds = 0 is the SDK's documented "force the refresh" (nhost.js refreshSession).
      // On a failed refresh of a not-yet-expired session the SDK quietly returns the old
      // session (session/refreshSession.js), so the comparisons below are what catch a failure.
      refreshed = await nhost.refreshSession(0);
      assert.ok(refreshed, 'refreshSession(0) returned null (refresh failed)');
      assert.notEqual(
        refreshed.refreshToken,
        before.refreshToken,
        'the refresh token did not change: the refresh failed (see the SDK warning above) ' +
          'or the server does not rotate refresh tokens',
      );
      assert.notEqual(refreshed.accessToken, before.accessToken, 'no new access token');
      assert.equal(typeof refreshed.accessTokenExpiresIn, 'number');
      assert.equal(refreshed.user?.id, signIn.user.id, 'the refreshed session has no/other user');

      const stored = nhost.getUserSession();
      assert.equal(stored.refreshToken, refreshed.refreshToken, 'SDK storage not updated');
      assert.equal(stored.accessToken, refreshed.accessToken, 'SDK storage not updated');
      assertUsableExpiry(stored);
      assert.ok(
        stored.decodedToken.iat > before.decodedToken.iat,
        'the new access token was not issued after the old one (iat)',
      );
    });

    await step('getUser returns the signed-in user (bearer token attached by the SDK)', async () => {
      const res = await nhost.auth.getUser();
      const user = res.body;
      assert.equal(user.id, signIn.user.id);
      assert.equal(user.email, email);
      assert.equal(user.isAnonymous, false);
      assert.equal(typeof user.emailVerified, 'boolean');
      assert.ok(Array.isArray(user.roles), `roles is not an array: ${JSON.stringify(user.roles)}`);
      assert.equal(typeof user.defaultRole, 'string');
      assert.ok(!Number.isNaN(Date.parse(user.createdAt)), `bad createdAt: ${user.createdAt}`);
    });

    await step('signOut answers "OK" and the SDK forgets the session', async () => {
      const res = await nhost.auth.signOut({ refreshToken: refreshed.refreshToken });
      assert.equal(res.body, 'OK');
      assert.equal(nhost.getUserSession(), null, 'the SDK still holds a session after signOut');
    });

    await step('the signed-out refresh tokens are refused with 401', async () => {
      // The current token of the signed-out session, and the one it replaced on refresh.
      for (const [which, refreshToken] of [
        ['current', refreshed.refreshToken],
        ['rotated', signIn.refreshToken],
      ]) {
        await assert.rejects(nhost.auth.refreshToken({ refreshToken }), (err) => {
          assert.ok(err instanceof FetchError, `expected a FetchError, got ${err?.name}: ${err}`);
          assert.equal(err.status, 401, `${which} refresh token: status ${err.status}`);
          assert.equal(typeof err.body?.error, 'string', `${which} refresh token: no error code`);
          return true;
        }, `the ${which} refresh token still works after signOut`);
      }
      // And through the SDK's own refresh path: with nothing stored there is nothing to refresh.
      assert.equal(await nhost.refreshSession(0), null);
      assert.equal(nhost.getUserSession(), null);
    });
  });

  test('nhost-js: createPAT and signInPAT', { skip: !parsed }, async (t) => {
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

    const nhost = createClient({ authUrl, storage: new MemoryStorage() });
    const email = `nhost-pat-${Date.now()}-${randomBytes(4).toString('hex')}@example.com`;
    let signUp; // Session from sign-up
    let pat; // CreatePATResponse
    let fromPat; // Session from signInPAT

    await step('createPAT, right after sign-up, answers {id, personalAccessToken}', async () => {
      signUp = (await nhost.auth.signUpEmailPassword({ email, password: PASSWORD })).body.session;
      assert.ok(signUp, 'sign-up returned no session');
      const expiresAt = new Date(Date.now() + 7 * 86_400_000).toISOString();
      const res = await nhost.auth.createPAT({ expiresAt, metadata: { name: 'nhost-js' } });
      pat = res.body;
      assert.deepEqual(Object.keys(pat).sort(), ['id', 'personalAccessToken']);
      assert.match(pat.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.equal(typeof pat.personalAccessToken, 'string');
      assert.ok(pat.personalAccessToken.length >= 43, 'the PAT is too short to be unguessable');
    });

    await step('signInPAT returns {session} for the same user and the SDK stores it', async () => {
      nhost.clearSession();
      const res = await nhost.auth.signInPAT({ personalAccessToken: pat.personalAccessToken });
      fromPat = res.body.session;
      assert.ok(fromPat, `signInPAT returned no session (body ${JSON.stringify(res.body)})`);
      assertSession(fromPat, email);
      assert.equal(fromPat.user.id, signUp.user.id);
      assert.notEqual(fromPat.refreshTokenId, signUp.refreshTokenId, 'not a new session');

      const stored = nhost.getUserSession();
      assert.ok(stored, 'the SDK did not store the PAT session');
      assert.equal(stored.accessToken, fromPat.accessToken);
      assert.equal(stored.refreshToken, fromPat.refreshToken);
      assertUsableExpiry(stored);
      assert.equal(stored.decodedToken.sub, signUp.user.id);
    });

    await step('the app sees the PAT user through the SDK (getUser)', async () => {
      const user = (await nhost.auth.getUser()).body;
      assert.equal(user.id, signUp.user.id);
      assert.equal(user.email, email);
    });

    await step('a PAT session cannot mint another PAT (elevated-claim-required)', async () => {
      const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
      await assert.rejects(nhost.auth.createPAT({ expiresAt }), (err) => {
        assert.ok(err instanceof FetchError, `expected a FetchError, got ${err?.name}: ${err}`);
        assert.equal(err.status, 403);
        assert.equal(err.body?.error, 'elevated-claim-required');
        return true;
      });
    });

    await step('an unknown PAT is refused with 401 invalid-pat', async () => {
      await assert.rejects(
        nhost.auth.signInPAT({ personalAccessToken: '2c35b6f3-c4b9-48e3-978a-d4d0f1d42e24' }),
        (err) => {
          assert.ok(err instanceof FetchError, `expected a FetchError, got ${err?.name}: ${err}`);
          assert.equal(err.status, 401);
          assert.equal(err.body?.error, 'invalid-pat');
          return true;
        },
      );
    });
  });

  test(
    'nhost-js: sign in with an emailed one-time code',
    {
      skip:
        (!parsed && 'TESSERA_URL is not usable') ||
        (!outbox && 'TESSERA_OUTBOX_DIR is not set: the code is read from the outbox'),
    },
    async () => {
      const nhost = createClient({ authUrl, storage: new MemoryStorage() });
      const email = `nhost-otp-${Date.now()}-${randomBytes(4).toString('hex')}@example.com`;

      // Sign-up is open: the request creates the account with the SDK's sign-up options.
      const requested = await nhost.auth.signInOTPEmail({
        email,
        options: { displayName: 'Ada Code', locale: 'fr' },
      });
      assert.equal(requested.status, 200);
      assert.equal(requested.body, 'OK');
      const otp = await codeFromOutbox(email);

      const expectInvalidOtp = (err) => {
        assert.ok(err instanceof FetchError, `expected a FetchError, got ${err?.name}: ${err}`);
        assert.equal(err.status, 401);
        assert.equal(err.body?.error, 'invalid-otp');
        return true;
      };
      const wrong = String((Number(otp) + 1) % 1000000).padStart(6, '0');
      await assert.rejects(nhost.auth.verifySignInOTPEmail({ email, otp: wrong }), expectInvalidOtp);
      assert.equal(nhost.getUserSession(), null, 'a wrong code stored a session');

      const verified = await nhost.auth.verifySignInOTPEmail({ email, otp });
      const session = verified.body.session;
      assert.ok(session, `no session (body ${JSON.stringify(verified.body)})`);
      assertSession(session, email);
      assert.equal(session.user.emailVerified, true, 'typing the code proves the address');
      assert.equal(session.user.displayName, 'Ada Code');
      assert.equal(session.user.locale, 'fr');

      const stored = nhost.getUserSession();
      assert.ok(stored, 'the SDK did not store the session');
      assert.equal(stored.accessToken, session.accessToken);
      assert.equal(stored.refreshToken, session.refreshToken);
      assertUsableExpiry(stored);

      // The app sees the user through the SDK's own bearer token.
      const user = (await nhost.auth.getUser()).body;
      assert.equal(user.id, session.user.id);
      assert.equal(user.email, email);
      assert.equal(user.emailVerified, true);
      assert.equal(user.isAnonymous, false);

      // A code works once.
      await assert.rejects(nhost.auth.verifySignInOTPEmail({ email, otp }), expectInvalidOtp);
    },
  );
}

// The code of the newest message to `email` in the outbox: the line of its text that is
// six digits (the built-in signin-otp template puts it alone on a line). Messages are sent
// in the background, so this waits for it a little.
async function codeFromOutbox(email) {
  for (let i = 0; i < 100; i += 1) {
    const messages = readdirSync(outbox)
      .filter((name) => name.endsWith('.eml'))
      .sort()
      .map((name) => readFileSync(join(outbox, name), 'utf8'))
      .filter((text) => new RegExp(`^To: ${email.replace(/[.]/g, '\\.')}\r?$`, 'im').test(text));
    if (messages.length > 0) {
      const text = messages[messages.length - 1]
        .replace(/=\r?\n/g, '')
        .replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
      const code = text.match(/^\s*(\d{6})\s*$/m)?.[1];
      assert.ok(code, `no six-digit code in the message to ${email}:\n${text}`);
      return code;
    }
    await sleep(100);
  }
  assert.fail(`no message to ${email} in ${outbox}`);
}

function assertSession(session, email) {
  for (const key of ['accessToken', 'refreshToken', 'refreshTokenId']) {
    assert.equal(typeof session[key], 'string', `session.${key} is not a string`);
    assert.ok(session[key].length > 0, `session.${key} is empty`);
  }
  assert.equal(session.accessToken.split('.').length, 3, 'accessToken is not a compact JWT');
  assert.equal(typeof session.accessTokenExpiresIn, 'number');
  assert.ok(session.accessTokenExpiresIn > 0, 'accessTokenExpiresIn is not positive');
  assert.ok(session.user, 'session.user is missing');
  assert.equal(typeof session.user.id, 'string');
  assert.equal(session.user.email, email);
}

// The SDK decodes the stored access token and schedules refreshes from its `exp`
// (session/session.js, session/refreshSession.js). Without a numeric exp in the future, every
// SDK request would first try to refresh.
function assertUsableExpiry(stored) {
  const exp = stored.decodedToken?.exp;
  assert.equal(typeof exp, 'number', 'the access token has no numeric exp claim');
  assert.ok(exp > Date.now(), `the access token is already expired (exp ${new Date(exp).toISOString()})`);
  assert.equal(typeof stored.decodedToken.iat, 'number', 'the access token has no numeric iat claim');
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
