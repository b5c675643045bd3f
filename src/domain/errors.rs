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
        "this is the account's last way to sign in: set a password, add a passkey or link another provider first"
    )]
    LastSignInMethod,
    /// No provider of that name is configured.
    #[error("no sign-in provider of this name is configured")]
    UnknownProvider,
    /// The provider's callback names no flow this browser began: unknown, used or expired
    /// `state`, or another browser's.
    #[error(
        "the sign-in at the provider was not started here, was already finished or took too long; start again"
    )]
    InvalidProviderState,
    /// The user cancelled at the provider (`access_denied`).
    #[error("the sign-in was cancelled at the provider")]
    ProviderCancelled,
    /// The provider answered with an error, or with something that failed verification
    /// (an ID token's signature, issuer, audience, expiry or nonce). The text says which,
    /// never a secret.
    #[error("the provider's answer was refused: {0}")]
    ProviderError(String),
    /// The provider could not be reached (discovery, keys, token endpoint or API).
    #[error("the provider cannot be reached; try again later")]
    ProviderUnavailable,
    /// The provider gave no email, or one it does not say is verified, where a verified
    /// one is needed (a new account on a server that requires verified emails).
    #[error("the provider did not give a verified email address")]
    ProviderEmailNotVerified,
    /// An account has the provider's email, which the provider does not say is verified:
    /// it is not linked (that would let anyone claiming the address at some provider into
    /// the account). Sign in to that account and link the provider from it.
    #[error("an account with this email exists; sign in to it and link this provider from there")]
    AccountExists,
    /// The identity belongs to another account, or the account has an identity at that
    /// provider already.
    #[error("this provider identity is already linked to an account")]
    ProviderAlreadyLinked,
    /// The user has no identity at that provider.
    #[error("no identity at this provider is linked to the account")]
    ProviderNotLinked,
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
