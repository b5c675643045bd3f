//! How a new session reaches the client: in the body (bearer transport) or in cookies
//! (cookie transport), and the device cookie every password sign-in and sign-up sets.

use tower_cookies::Cookies;

use crate::config::AuthMode;
use uuid::Uuid;

use crate::domain::mfa::SignIn;
use crate::domain::sessions::IssuedSession;
use crate::http::AppState;
use crate::http::cookies::CookiePolicy;
use crate::http::views::{MfaChallenge, SessionBody, SignInResponse};

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

/// `{session, mfa}` for the outcome of a first factor: the session delivered as
/// [`deliver`] does, or the second step's ticket (and no session cookie).
pub fn deliver_sign_in(
    state: &AppState,
    cookies: &Cookies,
    mode: AuthMode,
    outcome: SignIn,
) -> SignInResponse {
    match outcome {
        SignIn::Session(session) => SignInResponse {
            session: Some(deliver(state, cookies, mode, session)),
            mfa: None,
        },
        SignIn::SecondFactor { ticket, .. } => SignInResponse {
            session: None,
            mfa: Some(MfaChallenge { ticket }),
        },
    }
}

/// Sets a fresh device cookie for `user_id` after a password sign-in or sign-up (the
/// password was right, whether or not a second step follows), in every transport:
/// browsers and cookie-jar clients keep it whether or not they use cookie transport.
pub fn set_device_cookie(state: &AppState, cookies: &Cookies, user_id: Uuid) {
    CookiePolicy::new(&state.config).set_device(
        cookies,
        state.email_password.device_cookie(user_id),
        state.email_password.device_cookie_ttl(),
    );
}
