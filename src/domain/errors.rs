//! The domain's errors: what can go wrong signing up, signing in, refreshing and signing
//! out. The HTTP layer maps each to a status and an error code (listed in the README and the
//! OpenAPI document).

use crate::domain::keys::KeyError;
use crate::domain::passwords::{HashError, PolicyError};
use crate::store::StoreError;

/// A failure of an account or session operation.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("incorrect email or password")]
    InvalidEmailPassword,
    #[error("email already in use")]
    EmailAlreadyInUse,
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("sign-up is disabled")]
    SignupDisabled,
    #[error("the user is disabled")]
    DisabledUser,
    #[error("the email address is not verified")]
    UnverifiedUser,
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    #[error("refresh token reused")]
    RefreshTokenReused,
    #[error("invalid access token")]
    InvalidToken,
    /// `POST /signout {all: true}` without a live credential (answered as `invalid-token`).
    #[error(
        "signing out everywhere needs a current refresh token or an unexpired access token of a live session; no other session was ended"
    )]
    SignOutAllNeedsLiveCredential,
    #[error("no such session")]
    SessionNotFound,
    #[error("the ticket or code is invalid, used or expired")]
    InvalidTicket,
    /// A wrong, used, expired or exhausted email code, or no code for the address (one
    /// answer for all, as Nhost's `invalid-otp`).
    #[error("the code is invalid, used or expired")]
    InvalidOtp,
    #[error("redirectTo is not an allowed redirect URL")]
    RedirectNotAllowed,
    #[error("this email domain is not allowed")]
    EmailDomainNotAllowed,
    /// `allowedRoles` names a role outside the configured ones (or none).
    #[error("allowedRoles must be a non-empty subset of the roles this server allows at sign-up")]
    RoleNotAllowed,
    /// `defaultRole` is not one of the account's allowed roles.
    #[error("defaultRole must be one of the allowed roles")]
    DefaultRoleNotAllowed,
    #[error("this is not an anonymous user")]
    NotAnonymous,
    #[error("no such user")]
    UserNotFound,
    #[error(
        "this change needs a recent sign-in: sign in again (a password change also accepts the current password as currentPassword)"
    )]
    ElevatedClaimRequired,
    #[error("the personal access token is invalid, expired or revoked")]
    InvalidPat,
    #[error("no such personal access token")]
    PatNotFound,
    /// A wrong or already used TOTP code (or recovery code).
    #[error("the code is invalid or was already used")]
    InvalidTotp,
    /// TOTP is not enabled for the user (a second step, or disabling it).
    #[error("TOTP is not enabled for this user")]
    DisabledMfaTotp,
    /// Enabling TOTP before `GET /mfa/totp/generate`.
    #[error("no TOTP secret: generate one first")]
    NoTotpSecret,
    #[error("TOTP is already enabled for this user")]
    TotpAlreadyActive,
    /// What an anonymous user may not do (a second factor needs an account).
    #[error("anonymous users cannot do this: upgrade to an account first")]
    ForbiddenAnonymous,
    /// Passkeys are off: no relying party id (the public URL's host is an IP address and
    /// `TESSERA_WEBAUTHN_RP_ID` is not set).
    #[error("passkeys are not configured on this server: set TESSERA_WEBAUTHN_RP_ID")]
    WebauthnNotConfigured,
    /// The challenge answered is unknown, used, expired, or of another ceremony or user.
    #[error(
        "the WebAuthn challenge is unknown, used, expired or not for this request; start again"
    )]
    InvalidWebauthnChallenge,
    /// The authenticator's answer failed a check: origin, relying party, signature, user
    /// verification, or a credential that is not registered (to this user).
    #[error("the passkey could not be verified")]
    InvalidWebauthnCredential,
    /// The signature counter did not go up: the passkey may have been cloned.
    #[error(
        "the passkey's signature counter went backwards, which a cloned authenticator does; the sign-in was refused and recorded"
    )]
    WebauthnCounterRegressed,
    #[error("this passkey is already registered")]
    WebauthnCredentialExists,
    #[error("the account has no passkey")]
    NoPasskey,
    #[error("no such passkey")]
    PasskeyNotFound,
    /// Removing it would leave the account no way to sign in.
    #[error(
        "this is the account's last way to sign in: set a password or add another passkey first"
    )]
    LastSignInMethod,
    #[error("too many attempts; retry later")]
    TooManyRequests(std::time::Duration),
    /// A failure of the server's own making (never of the request), answered as 500.
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Hash(#[from] HashError),
}
