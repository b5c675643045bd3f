// A browser app using Tessera's cookie transport. No framework, no SDK: fetch with
// `credentials: "include"` and the header `tessera-auth-mode: cookie`.
//
// Serve this folder from an origin listed in TESSERA_ALLOWED_ORIGINS, and tell the page
// where Tessera is with ?tessera=URL (default http://localhost:4000), for example:
//   TESSERA_ALLOWED_ORIGINS=http://localhost:8080 cargo run
//   python3 -m http.server 8080 --directory examples/browser
//   open http://localhost:8080/?tessera=http://localhost:4000
// For "Forgot password", also allow the page as a redirect target:
//   TESSERA_ALLOWED_REDIRECT_URLS=http://localhost:8080
// Passkeys are bound to Tessera's host (its RP ID, by default the host of
// TESSERA_PUBLIC_URL, here localhost) and accepted from the origins Tessera trusts
// (TESSERA_ALLOWED_ORIGINS, so this page's origin too).

const TESSERA = new URLSearchParams(location.search).get('tessera') || 'http://localhost:4000';

// Every call: JSON (state-changing cookie requests must be JSON, Tessera's CSRF rule),
// cookies included, cookie transport requested.
async function call(method, path, body) {
  const response = await fetch(TESSERA + path, {
    method,
    credentials: 'include',
    headers: { 'content-type': 'application/json', 'tessera-auth-mode': 'cookie' },
    body: method === 'GET' ? undefined : JSON.stringify(body ?? {}),
  });
  const text = await response.text();
  let json;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: response.status, body: json };
}

const $ = (id) => document.getElementById(id);

function show(result) {
  $('result').textContent = JSON.stringify(result, null, 2);
  $('cookies').textContent = document.cookie || '(none)';
  // The hint cookie says a session may exist; its absence means "signed out".
  $('signed-in').textContent = /(^|; )tessera-session=/.test(document.cookie) ? 'yes' : 'no';
  document.body.dataset.lastStatus = String(result.status);
}

function credentials() {
  return { email: $('email').value, password: $('password').value };
}

$('tessera-url').textContent = TESSERA;
$('sign-up').onclick = async () => show(await call('POST', '/signup/email-password', credentials()));
$('sign-in').onclick = async () => show(await call('POST', '/signin/email-password', credentials()));
$('who-am-i').onclick = async () => {
  let result = await call('GET', '/user');
  // An expired access cookie means "refresh first", then try again once.
  if (result.status === 401) {
    const refreshed = await call('POST', '/token');
    if (refreshed.status === 200) result = await call('GET', '/user');
  }
  show(result);
};
$('refresh').onclick = async () => show(await call('POST', '/token'));
$('sign-out').onclick = async () => show(await call('POST', '/signout'));

// Passkeys (WebAuthn). Every ceremony has three steps:
//   1. Tessera answers the options (a fresh single-use challenge, who the passkey is for,
//      which passkeys may answer) as JSON, with binary fields in base64url;
//   2. the browser turns them into the WebAuthn API's form and asks the authenticator,
//      which checks the user (fingerprint, PIN...) and signs the challenge;
//   3. the credential goes back to Tessera as JSON, which checks it and acts.

// Step 2 of a registration: the authenticator makes a new passkey for these options.
async function createCredential(options) {
  const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options);
  const credential = await navigator.credentials.create({ publicKey });
  return credential.toJSON();
}

// Step 2 of a sign-in or step-up: the authenticator signs with a passkey the options allow
// (with an empty `allowCredentials`, it offers the passkeys it holds for this site).
async function getCredential(options) {
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
  const credential = await navigator.credentials.get({ publicKey });
  return credential.toJSON();
}

// The three steps. A refusal by Tessera is shown as it came; a refusal by the browser or
// the authenticator (cancelled, timed out, a passkey already registered...) as status 0.
async function ceremony(optionsPath, optionsBody, authenticator, verifyPath, verifyBody) {
  const options = await call('POST', optionsPath, optionsBody);
  if (options.status !== 200) return options;
  let credential;
  try {
    credential = await authenticator(options.body);
  } catch (error) {
    return { status: 0, body: `the authenticator refused: ${error.name}: ${error.message}` };
  }
  return call('POST', verifyPath, { ...verifyBody, credential });
}

// Sign up: a new account for the typed email, with a passkey and no password.
$('passkey-sign-up').onclick = async () => show(await ceremony(
  '/signup/webauthn', { email: $('email').value }, createCredential,
  '/signup/webauthn/verify', {}));
// Sign in without typing anything: the passkey itself says whose it is.
$('passkey-sign-in').onclick = async () => show(await ceremony(
  '/signin/webauthn', {}, getCredential,
  '/signin/webauthn/verify', {}));
// Add a passkey to the signed-in account (needs a recent sign-in). Tessera lists the
// account's passkeys in the options, so an authenticator that has one already refuses.
$('passkey-add').onclick = async () => show(await ceremony(
  '/user/webauthn/add', {}, createCredential,
  '/user/webauthn/verify', { nickname: $('passkey-nickname').value || undefined }));
$('passkey-list').onclick = async () => show(await call('GET', '/user/passkeys'));
// Step up: a passkey of this account renews the proof that it is you; Tessera answers a
// new session (its cookies replace the old ones) that counts as a recent sign-in.
$('passkey-step-up').onclick = async () => show(await ceremony(
  '/elevate/webauthn', {}, getCredential,
  '/elevate/webauthn/verify', {}));
// Without a recent sign-in this answers 403 elevated-claim-required: step up first.
$('change-password').onclick = async () => show(await call('POST', '/user/password', {
  newPassword: $('changed-password').value,
}));

// Password reset. The emailed link goes to Tessera, which spends it and sends the browser
// back here with a short-lived ticket in the URL *fragment* (#ticket=...&type=passwordReset):
// browsers never send a fragment to any server, so the ticket reaches no log and no
// Referer. The page takes it out of the address bar at once and posts it with the form.
$('forgot').onclick = async () => {
  const back = location.origin + location.pathname + location.search;
  show(await call('POST', '/user/password/reset', {
    email: $('email').value,
    options: { redirectTo: back },
  }));
};
const fragment = new URLSearchParams(location.hash.slice(1));
const resetTicket = fragment.get('type') === 'passwordReset' ? fragment.get('ticket') : null;
if (resetTicket) {
  history.replaceState(null, '', location.pathname + location.search);
  $('reset').hidden = false;
  $('set-password').onclick = async () => show(await call('POST', '/user/password', {
    newPassword: $('new-password').value,
    ticket: resetTicket,
  }));
}
show({ status: 0, body: 'ready' });
