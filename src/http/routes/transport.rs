//! How a new session reaches the client: in the body (bearer transport) or in cookies
//! (cookie transport), and the device cookie every password sign-in and sign-up sets.

use tower_cookies::Cookies;

use crate::config::AuthMode;
use crate::domain::sessions::IssuedSession;
use crate::http::AppState;
use crate::http::cookies::CookiePolicy;
use crate::http::views::SessionBody;

/// The Session body for the chosen transport, setting the cookies in cookie mode.
pub fn deliver(
    state: &AppState,
    cookies: &Cookies,
    mode: AuthMode,
    session: IssuedSession,
) -> SessionBody {
    match mode {
        AuthMode::Bearer => SessionBody::bearer(session),
        AuthMode::Cookie => {
            let policy = CookiePolicy::new(&state.config);
            policy.set_session(cookies, &session, state.clock.now());
            SessionBody::cookie(session, policy.expose_access_token)
        }
    }
}

/// Sets a fresh device cookie after a password sign-in or sign-up, in every transport:
/// browsers and cookie-jar clients keep it whether or not they use cookie transport.
pub fn set_device_cookie(state: &AppState, cookies: &Cookies, session: &IssuedSession) {
    CookiePolicy::new(&state.config).set_device(
        cookies,
        state.email_password.device_cookie(session.user.id),
        state.email_password.device_cookie_ttl(),
    );
}
