// The TOTP second factor through the official @nhost/nhost-js SDK (pinned 4.7.0), every call
// made by the SDK itself against a running Tessera: changeUserMfa (the secret and QR code),
// verifyChangeUserMfa (turn it on), getUser (activeMfaType), signInEmailPassword answering
// with an MFA ticket instead of a session, verifySignInMfaTotp (a wrong code, then the right
// one, then the same code again), and verifyChangeUserMfa with an empty type (turn it off).
//
// Codes come from Python's pyotp (installed by scripts/install-test-deps), an implementation
// independent of Tessera's, at the real clock (the server under test runs on the real clock).
//
//   TESSERA_URL   the SDK's authUrl (Tessera's public URL + /v1)
// tests/api/compat.rs sets it and runs this against both stores.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createClient } from '@nhost/nhost-js';
import { FetchError } from '@nhost/nhost-js/fetch';
import { MemoryStorage } from '@nhost/nhost-js/session';

const PASSWORD = 'correct-Horse-battery-9';
const authUrl = (process.env.TESSERA_URL ?? '').replace(/\/+$/, '');

function client() {
  return createClient({ authUrl, storage: new MemoryStorage() });
}

// The TOTP code of `secret` (base32) for the time `offset` seconds from now, by pyotp.
function totp(secret, offset = 0) {
  return execFileSync('python3', [
    '-c',
    'import pyotp, sys, time; print(pyotp.TOTP(sys.argv[1]).at(int(time.time()) + int(sys.argv[2])))',
    secret,
    String(offset),
  ]).toString().trim();
}

async function rejectsWith(promise, status, code) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof FetchError, `expected a FetchError, got ${err?.name}: ${err}`);
    assert.equal(err.status, status, JSON.stringify(err.body));
    assert.equal(err.body?.error, code);
    return true;
  });
}

test('the whole TOTP flow through the SDK', async (t) => {
  const email = `sdk-mfa-${Date.now()}-${randomBytes(4).toString('hex')}@example.com`;
  const nhost = client();
  let secret;
  let recoveryCodes;
  let ticket;
  let usedCode;
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

  await step('sign up: the SDK holds a session without MFA', async () => {
    const res = await nhost.auth.signUpEmailPassword({ email, password: PASSWORD });
    assert.ok(res.body.session, `no session: ${JSON.stringify(res.body)}`);
    const user = (await nhost.auth.getUser()).body;
    assert.ok(!user.activeMfaType, `activeMfaType before enrolment: ${user.activeMfaType}`);
  });

  await step('changeUserMfa gives a base32 secret and a PNG QR code', async () => {
    const res = await nhost.auth.changeUserMfa();
    assert.equal(res.status, 200);
    secret = res.body.totpSecret;
    assert.match(secret, /^[A-Z2-7]{16,}$/, 'the secret is not base32');
    assert.match(res.body.imageUrl, /^data:image\/png;base64,/);
    const png = Buffer.from(res.body.imageUrl.split(',')[1], 'base64');
    assert.equal(png.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', 'not a PNG');
    recoveryCodes = res.body.recoveryCodes;
    assert.equal(recoveryCodes?.length, 10, 'ten recovery codes are shown at enrolment');
  });

  await step('verifyChangeUserMfa refuses a wrong code and turns TOTP on with the right one', async () => {
    const wrong = String((Number(totp(secret)) + 1) % 1_000_000).padStart(6, '0');
    await rejectsWith(
      nhost.auth.verifyChangeUserMfa({ code: wrong, activeMfaType: 'totp' }),
      401,
      'invalid-totp',
    );
    const res = await nhost.auth.verifyChangeUserMfa({ code: totp(secret), activeMfaType: 'totp' });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'OK');
  });

  await step('getUser shows activeMfaType "totp"', async () => {
    const user = (await nhost.auth.getUser()).body;
    assert.equal(user.activeMfaType, 'totp');
  });

  await step('signInEmailPassword answers with an MFA ticket and no session', async () => {
    const fresh = client();
    const res = await fresh.auth.signInEmailPassword({ email, password: PASSWORD });
    assert.equal(res.body.session ?? null, null, 'a session before the second factor');
    ticket = res.body.mfa?.ticket;
    assert.match(ticket ?? '', /^mfaTotp:/);
    assert.equal(fresh.getUserSession(), null, 'the SDK stored a session before the code');
  });

  await step('verifySignInMfaTotp: a wrong code is refused, the right one signs in', async () => {
    const fresh = client();
    await rejectsWith(
      fresh.auth.verifySignInMfaTotp({ ticket, otp: '000000' === totp(secret, 30) ? '111111' : '000000' }),
      401,
      'invalid-totp',
    );
    // The next step's code: the one of enrolment may still be current, and each step is
    // accepted once per user.
    usedCode = totp(secret, 30);
    const res = await fresh.auth.verifySignInMfaTotp({ ticket, otp: usedCode });
    assert.ok(res.body.session, `no session: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.session.user.email, email);
    const stored = fresh.getUserSession();
    assert.ok(stored, 'the SDK did not store the session');
    const user = (await fresh.auth.getUser()).body;
    assert.equal(user.email, email);
    assert.equal(user.activeMfaType, 'totp');
  });

  await step('the ticket is spent and the same code is not accepted twice', async () => {
    const fresh = client();
    await rejectsWith(fresh.auth.verifySignInMfaTotp({ ticket, otp: usedCode }), 401, 'invalid-ticket');
    const again = await fresh.auth.signInEmailPassword({ email, password: PASSWORD });
    await rejectsWith(
      fresh.auth.verifySignInMfaTotp({ ticket: again.body.mfa.ticket, otp: usedCode }),
      401,
      'invalid-totp',
    );
  });

  await step('a recovery code signs in once', async () => {
    const fresh = client();
    const first = await fresh.auth.signInEmailPassword({ email, password: PASSWORD });
    const res = await fresh.auth.verifySignInMfaTotp({
      ticket: first.body.mfa.ticket,
      otp: recoveryCodes[0],
    });
    assert.ok(res.body.session);
    const second = await fresh.auth.signInEmailPassword({ email, password: PASSWORD });
    await rejectsWith(
      fresh.auth.verifySignInMfaTotp({ ticket: second.body.mfa.ticket, otp: recoveryCodes[0] }),
      401,
      'invalid-totp',
    );
  });

  await step('verifyChangeUserMfa with an empty type turns TOTP off', async () => {
    const res = await nhost.auth.verifyChangeUserMfa({ code: recoveryCodes[1], activeMfaType: '' });
    assert.equal(res.body, 'OK');
    assert.ok(!(await nhost.auth.getUser()).body.activeMfaType);
    const fresh = client();
    const signIn = await fresh.auth.signInEmailPassword({ email, password: PASSWORD });
    assert.ok(signIn.body.session, 'sign-in still asks for a code after TOTP was turned off');
  });
});
