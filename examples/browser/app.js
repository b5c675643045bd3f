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
