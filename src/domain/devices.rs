//! Device cookies (OWASP's defence against lockout as a weapon; docs/security.md).
//!
//! A successful password sign-in (or sign-up) hands the client a `tessera-device` cookie:
//! a random nonce and its issue time with an HMAC-SHA256 tag over them and the account's
//! user id. The cookie does not name the account: it is checked against the account a
//! sign-in asks for, so a cookie of another account, a forged or a tampered one simply is
//! not trusted. Nothing is stored per cookie; the HMAC key is one server secret in the
//! database, shared by every replica.
//!
//! A trusted client's failed sign-ins count against its device, not against the account,
//! and a locked account still lets it in; see [`crate::domain::rate_limits::FailedSignIns`]. A
//! cookie issued before the account's password last changed is not trusted: whoever knew
//! the old password could otherwise have collected cookies to keep guessing with.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::keys::secrets::shared_secret;
use crate::store::{Store, StoreError, UserRecord};
use crate::support::clock::Clock;

/// The name of the server secret that keys the tags.
const SECRET_NAME: &str = "device-cookie-hmac";
/// Domain separation for the tag.
const TAG_CONTEXT: &[u8] = b"tessera device cookie v1\0";
const NONCE_BYTES: usize = 16;
const ISSUED_BYTES: usize = 8;
const TAG_BYTES: usize = 32;
const COOKIE_BYTES: usize = NONCE_BYTES + ISSUED_BYTES + TAG_BYTES;

/// A device that presented a valid cookie of the account it signs in to. Its id (a hash
/// of the cookie's nonce) keys that device's failure counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedDevice {
    pub id: String,
}

/// Issues and checks device cookies.
pub struct DeviceCookies {
    key: hmac::Key,
    ttl: Duration,
    rng: SystemRandom,
}

fn micros(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000) as i64
}

impl DeviceCookies {
    /// Loads the shared HMAC key, creating it on the first start of any replica.
    pub async fn load(
        store: &Arc<dyn Store>,
        clock: &Arc<dyn Clock>,
        ttl: Duration,
    ) -> Result<Self, StoreError> {
        let secret = shared_secret(store.as_ref(), clock.as_ref(), SECRET_NAME, None).await?;
        Ok(Self::with_secret(&secret, ttl))
    }

    /// Device cookies keyed by `secret`.
    pub fn with_secret(secret: &[u8], ttl: Duration) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            ttl,
            rng: SystemRandom::new(),
        }
    }

    /// How long a cookie is valid (and its Max-Age).
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn tag_input(user_id: Uuid, nonce: &[u8], issued: &[u8]) -> Vec<u8> {
        let mut input = TAG_CONTEXT.to_vec();
        input.extend_from_slice(user_id.as_bytes());
        input.extend_from_slice(nonce);
        input.extend_from_slice(issued);
        input
    }

    /// A new cookie value for this account's user, issued at `now`.
    pub fn issue(&self, user_id: Uuid, now: OffsetDateTime) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        self.rng.fill(&mut nonce).expect("the OS random generator");
        let issued = micros(now).to_be_bytes();
        let tag = hmac::sign(&self.key, &Self::tag_input(user_id, &nonce, &issued));
        let mut value = Vec::with_capacity(COOKIE_BYTES);
        value.extend_from_slice(&nonce);
        value.extend_from_slice(&issued);
        value.extend_from_slice(tag.as_ref());
        URL_SAFE_NO_PAD.encode(value)
    }

    /// The device, if `value` is a cookie this server issued for `user`, unexpired at `now`
    /// and issued after the user's password last changed.
    pub fn trusted(
        &self,
        value: &str,
        user: &UserRecord,
        now: OffsetDateTime,
    ) -> Option<TrustedDevice> {
        let bytes = URL_SAFE_NO_PAD.decode(value).ok()?;
        if bytes.len() != COOKIE_BYTES {
            return None;
        }
        let (nonce, rest) = bytes.split_at(NONCE_BYTES);
        let (issued, tag) = rest.split_at(ISSUED_BYTES);
        hmac::verify(&self.key, &Self::tag_input(user.id, nonce, issued), tag).ok()?;
        let issued_at = i64::from_be_bytes(issued.try_into().ok()?);
        let ttl = i64::try_from(self.ttl.as_micros()).ok()?;
        let now = micros(now);
        let fresh = issued_at <= now && now < issued_at.saturating_add(ttl);
        let after_password = user
            .password_changed_at
            .is_none_or(|changed| issued_at >= micros(changed));
        if !(fresh && after_password) {
            return None;
        }
        let hash = digest(&SHA256, nonce);
        Some(TrustedDevice {
            id: hash.as_ref().iter().map(|b| format!("{b:02x}")).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(password_changed_at: Option<OffsetDateTime>) -> UserRecord {
        let now = OffsetDateTime::UNIX_EPOCH;
        UserRecord {
            id: Uuid::new_v4(),
            created_at: now,
            updated_at: now,
            email: Some("ada@example.com".into()),
            email_verified: true,
            phone_number: None,
            phone_number_verified: false,
            password_hash: None,
            password_changed_at,
            display_name: String::new(),
            avatar_url: String::new(),
            locale: "en".into(),
            default_role: "user".into(),
            roles: vec!["user".into()],
            is_anonymous: false,
            metadata: json!({}),
            disabled: false,
            active_mfa_type: None,
        }
    }

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn a_cookie_is_trusted_for_its_account_only_and_until_it_expires() {
        let devices = DeviceCookies::with_secret(b"secret", DAY);
        let now = OffsetDateTime::now_utc();
        let (ada, bob) = (user(None), user(None));
        let cookie = devices.issue(ada.id, now);
        assert!(cookie.len() < 100, "{cookie}");
        let device = devices.trusted(&cookie, &ada, now).expect("trusted");
        assert_eq!(devices.trusted(&cookie, &ada, now + DAY / 2), Some(device));
        assert_eq!(devices.trusted(&cookie, &ada, now + DAY), None, "expired");
        assert_eq!(devices.trusted(&cookie, &bob, now), None, "another account");
        let other_key = DeviceCookies::with_secret(b"another secret", DAY);
        assert_eq!(other_key.trusted(&cookie, &ada, now), None, "forged");
        assert_ne!(
            devices.trusted(&devices.issue(ada.id, now), &ada, now),
            devices.trusted(&cookie, &ada, now),
            "each cookie is a device of its own"
        );
    }

    #[test]
    fn tampered_or_malformed_cookies_are_not_trusted() {
        let devices = DeviceCookies::with_secret(b"secret", DAY);
        let now = OffsetDateTime::now_utc();
        let ada = user(None);
        let cookie = devices.issue(ada.id, now);
        for i in 0..cookie.len() {
            let mut bytes = cookie.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            assert_eq!(devices.trusted(&tampered, &ada, now), None, "byte {i}");
        }
        for bad in [
            "",
            "not base64!",
            &cookie[..cookie.len() - 1],
            &format!("{cookie}AA"),
        ] {
            assert_eq!(devices.trusted(bad, &ada, now), None, "{bad:?}");
        }
    }

    #[test]
    fn a_password_change_ends_the_trust_of_earlier_cookies() {
        let devices = DeviceCookies::with_secret(b"secret", DAY);
        let now = OffsetDateTime::now_utc();
        let mut ada = user(None);
        let before = devices.issue(ada.id, now);
        ada.password_changed_at = Some(now + Duration::from_secs(1));
        let after = devices.issue(ada.id, now + Duration::from_secs(2));
        let later = now + Duration::from_secs(3);
        assert_eq!(devices.trusted(&before, &ada, later), None);
        assert!(devices.trusted(&after, &ada, later).is_some());
    }
}
