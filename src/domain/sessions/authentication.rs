//! How and when a session was authenticated: the methods it proved (`amr`) and its latest
//! authentication (`auth_time`), both carried by every access token of the session; the
//! step-up that renews them on a live session; and the recent-authentication rules that
//! read them.
//!
//! A sign-in sets both when it starts the session ([`Sessions::create`]). A refresh keeps
//! them. A step-up (a second factor proved on a signed-in session) sets `auth_time` to now
//! and adds its methods to those the session had.

use uuid::Uuid;

use super::Sessions;
use crate::domain::errors::AuthError;
use crate::domain::tokens::Subject;
use crate::store::{SessionRecord, UserRecord};

/// A way of proving who one is, as named in the `amr` claim (RFC 8176 where it names one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// A password: email-password sign-in and sign-up.
    Password,
    /// Control of a mailbox: a sign-in link (PKCE exchange) or an emailed code.
    Email,
    /// A personal access token.
    Pat,
    /// A one-time password from an authenticator app (TOTP).
    Otp,
    /// A recovery code.
    Recovery,
    /// A second factor, proved in addition to the first (added with `Otp` or `Recovery`),
    /// or a passkey, which proves two at once (the device and the user's PIN or biometric).
    Mfa,
    /// A passkey: proof of possession of a key held by an authenticator.
    HardwareKey,
    /// A user-presence test (a passkey's authenticator, which also verified the user).
    UserPresence,
    /// A sign-in at another identity provider (OpenID Connect, GitHub): `fed`, the name
    /// federated sign-ins carry in practice (RFC 8176 has none for them).
    Federated,
}

impl AuthMethod {
    /// The name in the `amr` claim and in `sessions.amr`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "pwd",
            Self::Email => "email",
            Self::Pat => "pat",
            Self::Otp => "otp",
            Self::Recovery => "rec",
            Self::Mfa => "mfa",
            Self::HardwareKey => "hwk",
            Self::UserPresence => "user",
            Self::Federated => "fed",
        }
    }

    /// The method of an `amr` name, if it is one of these.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Password,
            Self::Email,
            Self::Pat,
            Self::Otp,
            Self::Recovery,
            Self::Mfa,
            Self::HardwareKey,
            Self::UserPresence,
            Self::Federated,
        ]
        .into_iter()
        .find(|method| method.as_str() == name)
    }
}

/// `methods` and then those of `added` it does not have yet: how a later proof adds to
/// the methods of an earlier one.
pub fn with_methods(methods: &[AuthMethod], added: &[AuthMethod]) -> Vec<AuthMethod> {
    let mut all = methods.to_vec();
    for method in added {
        if !all.contains(method) {
            all.push(*method);
        }
    }
    all
}

/// The names of `methods`, as a session keeps them.
pub(super) fn names(methods: &[AuthMethod]) -> Vec<String> {
    methods.iter().map(|m| m.as_str().to_owned()).collect()
}

/// A session just stepped up: an access token that says so, for the same session.
///
/// No refresh token: the client keeps the one it has. Its next refresh issues tokens from
/// the session as stepped up, so they carry the new `auth_time` and `amr` too.
#[derive(Debug, Clone)]
pub struct SteppedUp {
    pub access_token: String,
    pub access_token_expires_in: u64,
    /// The session as updated.
    pub session: SessionRecord,
    pub user: UserRecord,
}

impl Sessions {
    /// Records that the user of a live session just proved `added` on it (a second factor):
    /// the session's `auth_time` becomes now and `added` joins its methods. Returns an access
    /// token reflecting that. `InvalidToken` if the session is not a live session of
    /// `user_id` (revoked, expired, its user disabled, or another user's).
    ///
    /// It mints no refresh token. The session's refresh token stays the one the client
    /// holds, so rotation and reuse detection go on from it untouched: minting one here,
    /// outside the exchange, would start a second chain for the session (two current
    /// tokens), or need the current one presented and rotated, which a step-up request
    /// does not carry.
    pub async fn step_up(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        added: &[AuthMethod],
    ) -> Result<SteppedUp, AuthError> {
        let now = self.clock.now();
        let session = self
            .store
            .authenticate_session(session_id, user_id, now, &names(added))
            .await?
            .ok_or(AuthError::InvalidToken)?;
        let user = self
            .store
            .user_by_id(user_id)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        let access_token = self.tokens.issue(&Subject::of(&user, &session), now)?;
        Ok(SteppedUp {
            access_token,
            access_token_expires_in: self.tokens.ttl_seconds(),
            session,
            user,
        })
    }

    /// Whether a session's authentication is recent enough for a sensitive change (a
    /// password change without the current password, a new personal access token): its
    /// latest authentication (`auth_time`: the sign-in, or a later step-up; refreshes do not
    /// renew it) was within `TESSERA_RECENT_AUTH_WINDOW`. A session started with a personal
    /// access token never counts: a PAT must not be turned into a new PAT or a new password.
    pub async fn recent_sign_in(&self, session_id: Uuid) -> Result<bool, AuthError> {
        Ok(self.recent(session_id).await?.is_some())
    }

    /// [`recent_sign_in`](Self::recent_sign_in), and with `require_mfa` also that the
    /// session proved a second factor (`mfa` in its methods). Callers ask for it when the
    /// user has a second factor, so that a password alone cannot make the change.
    pub async fn recent_authentication(
        &self,
        session_id: Uuid,
        require_mfa: bool,
    ) -> Result<bool, AuthError> {
        let Some(session) = self.recent(session_id).await? else {
            return Ok(false);
        };
        Ok(!require_mfa || has_method(&session, AuthMethod::Mfa))
    }

    /// Whether `session_id` may make a sensitive change of `user`'s account now (a password
    /// or email change, a new personal access token, new recovery codes): authenticated
    /// within `TESSERA_RECENT_AUTH_WINDOW`, not by a PAT, and, when the user has a second
    /// factor, with it (`mfa` in the session's methods, from a second-step sign-in or a
    /// step-up). So a stolen password alone, or a session only a password opened, cannot
    /// make these changes on an account that has a second factor.
    pub async fn may_make_sensitive_change(
        &self,
        user: &UserRecord,
        session_id: Uuid,
    ) -> Result<bool, AuthError> {
        self.recent_authentication(session_id, user.active_mfa_type.is_some())
            .await
    }

    /// The session, if its latest authentication is recent and it was not started by a PAT.
    async fn recent(&self, session_id: Uuid) -> Result<Option<SessionRecord>, AuthError> {
        let session = self
            .store
            .session(session_id)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        let recent = self.clock.now() - session.auth_time <= self.lifetimes.recent_auth;
        if !recent || self.store.session_from_pat(session_id).await? {
            return Ok(None);
        }
        Ok(Some(session))
    }
}

fn has_method(session: &SessionRecord, method: AuthMethod) -> bool {
    session.amr.iter().any(|m| m == method.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_have_their_rfc_8176_names() {
        let all = [
            (AuthMethod::Password, "pwd"),
            (AuthMethod::Email, "email"),
            (AuthMethod::Pat, "pat"),
            (AuthMethod::Otp, "otp"),
            (AuthMethod::Recovery, "rec"),
            (AuthMethod::Mfa, "mfa"),
            (AuthMethod::HardwareKey, "hwk"),
            (AuthMethod::UserPresence, "user"),
        ];
        for (method, name) in all {
            assert_eq!(method.as_str(), name);
        }
        assert_eq!(
            with_methods(
                &[AuthMethod::Password, AuthMethod::Mfa],
                &[AuthMethod::HardwareKey, AuthMethod::Mfa]
            ),
            [
                AuthMethod::Password,
                AuthMethod::Mfa,
                AuthMethod::HardwareKey
            ],
            "added once, in order"
        );
        assert_eq!(
            names(&[AuthMethod::Otp, AuthMethod::Mfa]),
            ["otp".to_owned(), "mfa".to_owned()]
        );
    }
}
