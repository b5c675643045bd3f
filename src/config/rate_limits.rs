//! The rate-limits section: per client IP for each endpoint family (kept in each
//! replica's memory), and per account for failed sign-ins (kept in the database).

use std::time::Duration;

use super::ConfigError;
use super::source::{Source, number};
use super::values;

const MINUTE: Duration = Duration::from_secs(60);

/// A rate: so many per period.
pub type Rate = Option<(u32, Duration)>;

/// `TESSERA_RATE_LIMIT_*`.
#[derive(Debug, Clone)]
pub struct RateLimits {
    pub signin: Rate,
    pub signup: Rate,
    pub refresh: Rate,
    pub email: Rate,
    pub verify: Rate,
    pub failed_signins_per_account: Rate,
    /// IPv6 clients share a per-IP bucket per prefix of this length
    /// (`TESSERA_RATE_LIMIT_IPV6_PREFIX`, 64: one customer's network).
    pub ipv6_prefix: u8,
}

impl RateLimits {
    pub(super) fn parse(env: &Source<'_>) -> Result<Self, ConfigError> {
        let rate = |var, example, default| env.parsed(var, example, default, values::rate);
        Ok(Self {
            signin: rate("TESSERA_RATE_LIMIT_SIGNIN", "20/1m", Some((20, MINUTE)))?,
            signup: rate("TESSERA_RATE_LIMIT_SIGNUP", "10/1m", Some((10, MINUTE)))?,
            refresh: rate("TESSERA_RATE_LIMIT_REFRESH", "120/1m", Some((120, MINUTE)))?,
            email: rate("TESSERA_RATE_LIMIT_EMAIL", "5/1m", Some((5, MINUTE)))?,
            verify: rate("TESSERA_RATE_LIMIT_VERIFY", "30/1m", Some((30, MINUTE)))?,
            failed_signins_per_account: rate(
                "TESSERA_RATE_LIMIT_FAILED_SIGNINS",
                "100/1h",
                Some((100, Duration::from_secs(3600))),
            )?,
            ipv6_prefix: env.parsed("TESSERA_RATE_LIMIT_IPV6_PREFIX", "64", 64, |raw| {
                number(raw).and_then(|n: u8| match n {
                    1..=128 => Ok(n),
                    _ => Err("must be from 1 to 128".into()),
                })
            })?,
        })
    }
}
