//! Rate limits.
//!
//! - Per client IP, per endpoint family (sign-in, sign-up, refresh, email-sending, link
//!   verification): a GCRA bucket of `N` requests per period in each replica's memory
//!   (several replicas multiply the allowance; these limits shed floods, they do not
//!   count precisely).
//! - Per account, failed sign-ins: a fixed-window counter in the database, so it holds
//!   across replicas and IPs. It is keyed by the SHA-256 of the normalised email, whether
//!   or not an account exists, so a locked state says nothing about existence. While an
//!   address is locked every sign-in with it from an untrusted client is refused before
//!   any password hashing, the right password included (that is what stops a distributed
//!   guess); when the window ends it works again.
//! - Per trusted device: a client presenting a valid device cookie of the account
//!   ([`crate::domain::devices`]) has a counter of its own, with the same limit, instead of the
//!   account's. Its failures never lock the account, and the account's lock never stops
//!   it; so a stranger flooding wrong passwords cannot lock the owner out, and a stolen
//!   device cookie buys no more guesses than the limit.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::{Rate, RateLimits};
use crate::domain::devices::TrustedDevice;
use crate::domain::errors::AuthError;
use crate::store::Store;
use crate::support::clock::Clock;

/// The endpoint families limited per client IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    SignIn,
    SignUp,
    Refresh,
    Email,
    Verify,
}

fn limiter(rate: Rate) -> Option<DefaultKeyedRateLimiter<IpAddr>> {
    let (count, per) = rate?;
    let count = NonZeroU32::new(count)?;
    let quota = Quota::with_period(per / count.get())?.allow_burst(count);
    Some(RateLimiter::keyed(quota))
}

/// The bucket of a client address: an IPv4 address itself, an IPv6 address its network of
/// `prefix` bits (whoever has one address of a /64 has them all).
fn bucket(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    }
}

/// Per-IP limits, one bucket per (family, IP; IPv6 per network prefix).
pub struct IpLimits {
    limiters: [Option<DefaultKeyedRateLimiter<IpAddr>>; 5],
    ipv6_prefix: u8,
}

impl IpLimits {
    /// The limits of the configuration (a zero rate turns a family's limit off).
    pub fn new(config: &RateLimits) -> Self {
        Self {
            limiters: [
                limiter(config.signin),
                limiter(config.signup),
                limiter(config.refresh),
                limiter(config.email),
                limiter(config.verify),
            ],
            ipv6_prefix: config.ipv6_prefix,
        }
    }

    /// Counts one request; `Err(wait)` when the bucket is empty.
    pub fn check(&self, family: Family, ip: IpAddr) -> Result<(), Duration> {
        let Some(limiter) = &self.limiters[family as usize] else {
            return Ok(());
        };
        limiter
            .check_key(&bucket(ip, self.ipv6_prefix))
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets IPs whose buckets are full again (run periodically to bound memory).
    pub fn forget_idle(&self) {
        for limiter in self.limiters.iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// The per-account limit on failed sign-ins.
pub struct FailedSignIns {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    rate: Rate,
}

/// Whose failures a sign-in attempt counts against.
#[derive(Debug, Clone, Copy)]
pub enum Bucket<'a> {
    /// An untrusted client: the address asked for (an account or not).
    Account(&'a str),
    /// A client with a valid device cookie of the account.
    Device(&'a TrustedDevice),
    /// Wrong second-factor codes of a user (see [`crate::domain::mfa`]).
    User(uuid::Uuid),
}

fn key(email: &str) -> String {
    let hash = digest(&SHA256, email.trim().to_lowercase().as_bytes());
    let hex: String = hash.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("signin-failures:{hex}")
}

impl Bucket<'_> {
    fn key(&self) -> String {
        match self {
            Bucket::Account(email) => key(email),
            Bucket::Device(device) => format!("signin-failures-device:{}", device.id),
            Bucket::User(id) => format!("mfa-failures:{id}"),
        }
    }
}

impl FailedSignIns {
    /// The limit of the configuration (`None`: no limit).
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, rate: Rate) -> Self {
        Self { store, clock, rate }
    }

    /// Refuses when this bucket has used up its failures in the current window.
    pub async fn check(&self, bucket: Bucket<'_>) -> Result<(), AuthError> {
        let Some((limit, window)) = self.rate else {
            return Ok(());
        };
        let now = self.clock.now();
        match self
            .store
            .rate_limit_hits(&bucket.key(), now - window)
            .await?
        {
            Some((hits, started)) if hits >= i64::from(limit) => {
                let wait = (started + window - now).max(time::Duration::seconds(1));
                Err(AuthError::TooManyRequests(wait.unsigned_abs()))
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed sign-in against this bucket.
    pub async fn record_failure(&self, bucket: Bucket<'_>) -> Result<(), AuthError> {
        let Some((_, window)) = self.rate else {
            return Ok(());
        };
        let now = self.clock.now();
        self.store
            .hit_rate_limit(&bucket.key(), now, now - window)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_n_then_refusals_with_a_wait() {
        let limits = IpLimits::new(&RateLimits {
            signin: Some((3, Duration::from_secs(60))),
            signup: None,
            refresh: None,
            email: None,
            verify: None,
            failed_signins_per_account: None,
            ipv6_prefix: 64,
        });
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        for _ in 0..3 {
            assert!(limits.check(Family::SignIn, ip).is_ok());
        }
        let wait = limits.check(Family::SignIn, ip).unwrap_err();
        assert!(
            wait > Duration::from_secs(15) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(
            limits
                .check(Family::SignIn, "203.0.113.8".parse().unwrap())
                .is_ok(),
            "per IP"
        );
        assert!(
            limits.check(Family::SignUp, ip).is_ok(),
            "per family; 0 means no limit"
        );
    }

    #[test]
    fn ipv6_addresses_share_a_bucket_per_prefix() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(bucket(ip("2001:db8:1:2::7"), 64), ip("2001:db8:1:2::"));
        assert_eq!(bucket(ip("2001:db8:1:2:ffff::1"), 64), ip("2001:db8:1:2::"));
        assert_ne!(bucket(ip("2001:db8:1:3::1"), 64), ip("2001:db8:1:2::"));
        assert_eq!(bucket(ip("2001:db8::1"), 128), ip("2001:db8::1"));
        assert_eq!(bucket(ip("2001:db8::1"), 1), ip("::"));
        assert_eq!(
            bucket(ip("203.0.113.9"), 64),
            ip("203.0.113.9"),
            "IPv4 as it is"
        );
    }

    #[test]
    fn account_keys_ignore_case_and_reveal_no_address() {
        assert_eq!(key(" Ada@Example.com"), key("ada@example.com"));
        assert!(!key("ada@example.com").contains("ada"));
        let device = TrustedDevice { id: "ab12".into() };
        assert_ne!(
            Bucket::Device(&device).key(),
            Bucket::Account("ab12").key(),
            "devices and accounts never share a counter"
        );
    }
}
