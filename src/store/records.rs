//! The rows the store reads and writes, in backend-neutral types.

use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

/// A signing key as kept in `signing_keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub kid: String,
    /// The public JWK, as served.
    pub public_jwk: Value,
    /// PKCS#8 DER, or its AES-256-GCM sealing when `encryption` says so.
    pub private_key: Vec<u8>,
    pub encryption: String,
    pub origin: String,
    pub created_at: OffsetDateTime,
    pub published_at: OffsetDateTime,
    pub activates_at: OffsetDateTime,
    pub retires_at: Option<OffsetDateTime>,
    pub expires_at: Option<OffsetDateTime>,
    /// Set when the key was revoked: it then verifies and signs nothing, its private key is
    /// erased, and the row stays as a tombstone. New keys are inserted unrevoked.
    pub revoked_at: Option<OffsetDateTime>,
}

/// An emergency revocation, carried out in one transaction: mark the key revoked and erase
/// its private key, insert the key that signs from now on (when the revoked one was
/// signing), undo the retirement a revoked pending key would have caused, record the event.
#[derive(Debug)]
pub struct KeyRevocation {
    pub kid: String,
    pub revoked_at: OffsetDateTime,
    pub replacement: Option<KeyRecord>,
    /// The key the revoked (pending) key was to retire: it keeps signing, unretired.
    pub unretire: Option<String>,
    pub event: SecurityEventRecord,
}

/// What a revocation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationOutcome {
    Revoked,
    /// Revoked before, at this instant; nothing was changed.
    AlreadyRevoked(OffsetDateTime),
    NotFound,
}

/// A change to the key set, applied only if the newest key is still the one the caller saw,
/// so that replicas deciding to rotate at the same moment add one key, not two.
#[derive(Debug)]
pub struct KeyInsertion {
    /// The kid of the newest key when the caller decided; `None` for an empty key set.
    pub expected_newest: Option<String>,
    pub key: KeyRecord,
    /// Retirement of the previous newest key: (retires_at, expires_at).
    pub retire_previous: Option<(OffsetDateTime, OffsetDateTime)>,
}

/// A user row.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub id: Uuid,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub email: Option<String>,
    pub email_verified: bool,
    pub phone_number: Option<String>,
    pub phone_number_verified: bool,
    pub password_hash: Option<String>,
    pub password_changed_at: Option<OffsetDateTime>,
    pub display_name: String,
    pub avatar_url: String,
    pub locale: String,
    pub default_role: String,
    pub roles: Vec<String>,
    pub is_anonymous: bool,
    pub metadata: Value,
    pub disabled: bool,
    /// The second factor sign-ins ask for: `None`, or `Some("totp")` once enabled. Changed
    /// only through [`MfaStore`](super::MfaStore).
    pub active_mfa_type: Option<String>,
}

/// What one operation changes in a user row: `None` leaves a column as it is. Writing
/// only what changed means two operations racing on one user cannot undo each other (an
/// administrator's profile edit cannot bring back a password replaced meanwhile, a link
/// followed meanwhile cannot re-enable a user disabled meanwhile).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserUpdate {
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    /// `Some(None)` removes the password.
    pub password_hash: Option<Option<String>>,
    pub password_changed_at: Option<OffsetDateTime>,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    pub locale: Option<String>,
    pub default_role: Option<String>,
    pub roles: Option<Vec<String>>,
    pub is_anonymous: Option<bool>,
    pub metadata: Option<Value>,
}

impl UserRecord {
    /// A user with no row behind it and plain values: email, the role `user`, locale `en`,
    /// empty metadata. For the start-up self-test, benchmarks and tests that sign tokens.
    pub fn placeholder(id: Uuid, now: OffsetDateTime) -> Self {
        Self {
            id,
            created_at: now,
            updated_at: now,
            email: Some("placeholder@localhost".into()),
            email_verified: false,
            phone_number: None,
            phone_number_verified: false,
            password_hash: None,
            password_changed_at: None,
            display_name: String::new(),
            avatar_url: String::new(),
            locale: "en".into(),
            default_role: "user".into(),
            roles: vec!["user".into()],
            is_anonymous: false,
            metadata: Value::Object(serde_json::Map::new()),
            disabled: false,
            active_mfa_type: None,
        }
    }
}

impl UserUpdate {
    /// `user` with this update applied (what the row holds once it is written).
    pub fn apply(&self, mut user: UserRecord, now: OffsetDateTime) -> UserRecord {
        let u = self.clone();
        user.updated_at = now;
        user.email = u.email.or(user.email);
        user.email_verified = u.email_verified.unwrap_or(user.email_verified);
        user.password_hash = u.password_hash.unwrap_or(user.password_hash);
        user.password_changed_at = u.password_changed_at.or(user.password_changed_at);
        user.display_name = u.display_name.unwrap_or(user.display_name);
        user.avatar_url = u.avatar_url.unwrap_or(user.avatar_url);
        user.locale = u.locale.unwrap_or(user.locale);
        user.default_role = u.default_role.unwrap_or(user.default_role);
        user.roles = u.roles.unwrap_or(user.roles);
        user.is_anonymous = u.is_anonymous.unwrap_or(user.is_anonymous);
        user.metadata = u.metadata.unwrap_or(user.metadata);
        user
    }
}

/// A session row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub created_at: OffsetDateTime,
    pub last_used_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub absolute_expires_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
    pub user_agent: String,
    pub ip: String,
    /// The session's latest authentication: the sign-in that started it, or a later
    /// step-up. A refresh never changes it.
    pub auth_time: OffsetDateTime,
    /// The authentication methods the session proved (`pwd`, `email`, `pat`, `otp`, `rec`,
    /// `mfa`: the domain's `AuthMethod` names), in the order proved; empty for none. Kept
    /// space-separated in one text column on both backends.
    pub amr: Vec<String>,
}

/// A refresh token to insert: only its hash ever reaches the database.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub id: Uuid,
    pub hash: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// 1 for a session's first token, one more at each rotation (the domain's
    /// `sessions::Lineage`); tokens issued before generations have none.
    pub generation: i64,
}

/// What the rotation transaction sees once it holds the session's lock. The domain states
/// its rotation rule on it: [`TokenState::may_rotate`] (in `domain/sessions/rotation.rs`).
#[derive(Debug, Clone)]
pub struct TokenState {
    pub token_id: Uuid,
    pub token_expires_at: OffsetDateTime,
    pub rotated_at: Option<OffsetDateTime>,
    pub successor_sealed: Option<Vec<u8>>,
    /// Whether the successor has been used already: rotated itself, or gone (a successor's
    /// row is deleted once two more rotations have happened).
    pub successor_used: bool,
    pub session: SessionRecord,
    /// The session's user, read in the same statement (the response needs it).
    pub user: UserRecord,
}

/// The names a session's columns have in a result row: as stored, or prefixed where the
/// row also holds the user's columns (which share `id` and `created_at`).
pub(crate) struct SessionColumns {
    pub id: &'static str,
    pub user_id: &'static str,
    pub created_at: &'static str,
    pub last_used_at: &'static str,
    pub expires_at: &'static str,
    pub absolute_expires_at: &'static str,
    pub revoked_at: &'static str,
    pub user_agent: &'static str,
    pub ip: &'static str,
    pub auth_time: &'static str,
    pub amr: &'static str,
}

impl SessionColumns {
    pub const STORED: Self = Self {
        id: "id",
        user_id: "user_id",
        created_at: "created_at",
        last_used_at: "last_used_at",
        expires_at: "expires_at",
        absolute_expires_at: "absolute_expires_at",
        revoked_at: "revoked_at",
        user_agent: "user_agent",
        ip: "ip",
        auth_time: "auth_time",
        amr: "amr",
    };
    /// `s.id AS session_id, s.user_id AS session_user_id, ...`
    pub const PREFIXED: Self = Self {
        id: "session_id",
        user_id: "session_user_id",
        created_at: "session_created_at",
        last_used_at: "session_last_used_at",
        expires_at: "session_expires_at",
        absolute_expires_at: "session_absolute_expires_at",
        revoked_at: "session_revoked_at",
        user_agent: "session_user_agent",
        ip: "session_ip",
        auth_time: "session_auth_time",
        amr: "session_amr",
    };
}

/// The exchange of a current refresh token, fully decided in advance, for stores that can
/// check and carry it out in one statement (see `Store::rotate_current_refresh_token`).
#[derive(Debug, Clone)]
pub struct CurrentRotation {
    pub now: OffsetDateTime,
    /// The successor; its `expires_at` (now + the refresh lifetime) is capped by the store at
    /// the session's absolute expiry, like the session's own new expiry.
    pub successor: NewRefreshToken,
    pub successor_sealed: Vec<u8>,
    pub user_agent: String,
    pub ip: String,
}

/// A session and its user, as an exchange left them.
#[derive(Debug, Clone)]
pub struct RotatedSession {
    pub session: SessionRecord,
    pub user: UserRecord,
}

/// What the rotation transaction must do, decided by `sessions` from a `TokenState`.
#[derive(Debug, Clone)]
pub enum RotationPlan {
    /// Exchange the presented token for `successor`.
    Rotate {
        successor: NewRefreshToken,
        /// The successor sealed under the presented token, for replays in the grace window.
        successor_sealed: Vec<u8>,
        session_expires_at: OffsetDateTime,
        user_agent: String,
        ip: String,
    },
    /// Answer with the successor already issued; nothing to write.
    Replay { successor: String },
    /// Revoke the whole session and record why.
    Revoke { event: SecurityEventRecord },
    /// Refuse without touching anything.
    Reject(RejectReason),
}

/// Why a refresh was refused without revoking anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// Unknown, expired or revoked token or session.
    Invalid,
    /// The user is disabled.
    Disabled,
}

/// A security event to record.
#[derive(Debug, Clone, PartialEq)]
pub struct SecurityEventRecord {
    pub occurred_at: OffsetDateTime,
    pub kind: String,
    pub user_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    pub ip: String,
    pub user_agent: String,
    pub detail: Value,
}

/// A one-time ticket (emailed link) or exchange code, as kept in `tickets`.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketRecord {
    pub id: uuid::Uuid,
    pub user_id: uuid::Uuid,
    /// `verify-email`, `password-reset`, `email-change`, `signin-link`, `exchange-code`,
    /// `password-reset-form`, `email-revert` or `email-otp`.
    pub purpose: String,
    pub hash: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    pub redirect_to: Option<String>,
    /// PKCE S256 challenge that the code exchange must answer.
    pub code_challenge: Option<String>,
    pub payload: Value,
}

/// Which security events to read (all conditions optional), newest first.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub user_id: Option<uuid::Uuid>,
    pub kind: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    /// Cursor: only events with a smaller id.
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// Where a page of users starts: after this (created_at, id).
pub type UserCursor = (OffsetDateTime, uuid::Uuid);

/// A personal access token as kept in `personal_access_tokens`: only its hash.
#[derive(Debug, Clone, PartialEq)]
pub struct PatRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    /// SHA-256 of the token.
    pub hash: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
    /// A JSON object the user attached.
    pub metadata: Value,
}

/// A user's TOTP secret as kept in `totp_secrets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpSecretRecord {
    pub user_id: Uuid,
    /// The secret, sealed (AES-256-GCM) under a key the database does not hold.
    pub secret_sealed: Vec<u8>,
    pub created_at: OffsetDateTime,
    /// `None` while pending: generated, not yet confirmed with a code.
    pub confirmed_at: Option<OffsetDateTime>,
    /// The last time step a code was accepted for (the replay guard).
    pub last_used_step: Option<i64>,
}

/// A registered passkey, as kept in `webauthn_credentials`.
#[derive(Debug, Clone, PartialEq)]
pub struct PasskeyRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    /// The authenticator's id of the credential (unique across users).
    pub credential_id: Vec<u8>,
    /// webauthn-rs's serialised credential: what assertions are verified against.
    pub passkey: Value,
    /// The signature counter last seen (0: the authenticator keeps none).
    pub counter: i64,
    pub backup_eligible: bool,
    pub backup_state: bool,
    /// How the client can reach the authenticator (`internal`, `usb`, `hybrid`...).
    pub transports: Vec<String>,
    /// The user's name for it.
    pub nickname: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

/// What a successful assertion changes of a passkey.
#[derive(Debug, Clone, PartialEq)]
pub struct PasskeyUse {
    pub counter: i64,
    pub backup_eligible: bool,
    pub backup_state: bool,
    /// The serialised credential with those updated.
    pub passkey: Value,
    pub now: OffsetDateTime,
}

/// What [`PasskeyStore::delete_passkey`](super::PasskeyStore::delete_passkey) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyRemoval {
    Removed,
    /// The user has no such passkey.
    NotFound,
    /// It is the account's last way to sign in: kept.
    LastSignInMethod,
}

/// A WebAuthn ceremony begun by an options route, as kept in `webauthn_ceremonies`.
#[derive(Debug, Clone, PartialEq)]
pub struct CeremonyRecord {
    /// SHA-256 of the challenge.
    pub challenge_hash: Vec<u8>,
    /// `signup`, `signin`, `add`, `elevate` or `second-factor`.
    pub purpose: String,
    /// Who began it, when someone known did.
    pub user_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    /// webauthn-rs's serialised ceremony state (never sent to a client).
    pub state: Value,
    /// The sign-up's email and options, or an MFA ticket's hash.
    pub payload: Value,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// An account's identity at a provider, as kept in `user_providers`.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    /// The provider's name in Tessera's configuration (`google`, `github`...).
    pub provider: String,
    /// Who the provider says signed in: its `sub`, GitHub's numeric id.
    pub subject: String,
    /// The email the provider last gave (shown, never used to find the account).
    pub email: Option<String>,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

/// What [`ProviderStore::unlink_identity`](super::ProviderStore::unlink_identity) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityRemoval {
    Removed,
    /// The user has no identity at that provider.
    NotFound,
    /// It is the account's last way to sign in: kept.
    LastSignInMethod,
}

/// A browser's sign-in at a provider between the redirect there and the callback, as kept
/// in `provider_flows`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderFlowRecord {
    /// SHA-256 of the `state` sent to the provider.
    pub state_hash: Vec<u8>,
    pub provider: String,
    /// SHA-256 of the flow cookie's value: the browser that began the flow.
    pub browser_hash: Vec<u8>,
    pub nonce: String,
    pub pkce_verifier: String,
    pub redirect_to: String,
    /// The app's PKCE challenge for `POST /token/exchange`.
    pub code_challenge: String,
    /// The signed-in account an identity is being linked to.
    pub link_user_id: Option<Uuid>,
    /// The sign-up options of the request that began the flow.
    pub payload: Value,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}
