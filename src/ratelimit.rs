//! Rate limits.
//!
//! - Per client IP, per endpoint family (sign-in, sign-up, refresh, email-sending, link
//!   verification): a GCRA bucket of `N` requests per period in each replica's memory
//!   (several replicas multiply the allowance; these limits shed floods, they do not
//!   count precisely).
//! - Per account, failed sign-ins: a fixed-window counter in the database, so it holds
//!   across replicas and IPs. It is keyed by the SHA-256 of the normalised email, whether
//!   or not an account exists, so a locked state says nothing about existence. While an
//!   address is locked every sign-in with it is refused before any password hashing, the
//!   right password included; when the window ends it works again.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::auth_error::AuthError;
use crate::clock::Clock;
use crate::config::{Rate, RateLimits};
use crate::store::Store;

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

/// Per-IP limits, one bucket per (family, IP).
pub struct IpLimits {
    limiters: [Option<DefaultKeyedRateLimiter<IpAddr>>; 5],
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
        }
    }

    /// Counts one request; `Err(wait)` when the bucket is empty.
    pub fn check(&self, family: Family, ip: IpAddr) -> Result<(), Duration> {
        let Some(limiter) = &self.limiters[family as usize] else {
            return Ok(());
        };
        limiter
            .check_key(&ip)
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

fn key(email: &str) -> String {
    let hash = digest(&SHA256, email.trim().to_lowercase().as_bytes());
    let hex: String = hash.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("signin-failures:{hex}")
}

impl FailedSignIns {
    /// The limit of the configuration (`None`: no limit).
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, rate: Rate) -> Self {
        Self { store, clock, rate }
    }

    /// Refuses when this address has used up its failures in the current window.
    pub async fn check(&self, email: &str) -> Result<(), AuthError> {
        let Some((limit, window)) = self.rate else {
            return Ok(());
        };
        let now = self.clock.now();
        match self
            .store
            .rate_limit_hits(&key(email), now - window)
            .await?
        {
            Some((hits, started)) if hits >= i64::from(limit) => {
                let wait = (started + window - now).max(time::Duration::seconds(1));
                Err(AuthError::TooManyRequests(wait.unsigned_abs()))
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed sign-in for this address.
    pub async fn record_failure(&self, email: &str) -> Result<(), AuthError> {
        let Some((_, window)) = self.rate else {
            return Ok(());
        };
        let now = self.clock.now();
        self.store
            .hit_rate_limit(&key(email), now, now - window)
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
    fn account_keys_ignore_case_and_reveal_no_address() {
        assert_eq!(key(" Ada@Example.com"), key("ada@example.com"));
        assert!(!key("ada@example.com").contains("ada"));
    }
}
