//! Parsers for the documented value formats: durations, booleans, lists.
//!
//! Each parser returns a short description of what is wrong; `Config` adds the variable's
//! name and an example, so every message a user sees names both.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

/// `90`, `90s`, `15m`, `1h`, `30d`: seconds, or a whole number with one unit.
pub fn duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (digits, unit) = raw.split_at(split);
    if digits.is_empty() {
        return Err("is not a duration".into());
    }
    let amount: u64 = digits
        .parse()
        .map_err(|_| "is too large a number".to_string())?;
    let seconds_per_unit = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(format!("has an unknown unit `{unit}` (use s, m, h or d)")),
    };
    amount
        .checked_mul(seconds_per_unit)
        // Ten years is longer than any sensible lifetime and keeps time arithmetic far
        // from overflow everywhere a duration is added to a timestamp.
        .filter(|secs| *secs <= 10 * 365 * 86_400)
        .map(Duration::from_secs)
        .ok_or_else(|| "is longer than ten years".to_string())
}

/// A rate: `N/duration` (`20/1m`, `100/1h`), or `0` for none.
pub fn rate(raw: &str) -> Result<Option<(u32, Duration)>, String> {
    if raw.trim() == "0" {
        return Ok(None);
    }
    let (count, per) = raw
        .split_once('/')
        .ok_or_else(|| "is not a rate like 20/1m (or 0 for none)".to_string())?;
    let count: u32 = count
        .trim()
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| "does not start with a positive count".to_string())?;
    let per = duration(per).map_err(|e| format!("has a period that {e}"))?;
    if per.is_zero() {
        return Err("has a zero period".into());
    }
    Ok(Some((count, per)))
}

/// `true` or `false`, nothing else: a typo must not silently mean "off".
pub fn boolean(raw: &str) -> Result<bool, String> {
    match raw.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("is not `true` or `false`".into()),
    }
}

/// A comma-separated list; blank items are ignored, so a trailing comma is harmless.
pub fn list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// An IP address or a CIDR block; a bare address is a block of one.
pub fn ip_network(raw: &str) -> Result<IpNet, String> {
    if let Ok(net) = raw.parse::<IpNet>() {
        return Ok(net);
    }
    raw.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("has `{raw}`, which is neither an IP address nor a CIDR block"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_plain_seconds_and_units() {
        assert_eq!(duration("3600"), Ok(Duration::from_secs(3600)));
        assert_eq!(duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(duration("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn durations_refuse_everything_else() {
        for bad in [
            "",
            "abc",
            "h",
            "1w",
            "1.5h",
            "-1",
            "1h30m",
            "99999999999999999999",
        ] {
            assert!(duration(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(duration("3651d").is_err());
    }

    #[test]
    fn rates_are_count_per_period() {
        assert_eq!(rate("20/1m"), Ok(Some((20, Duration::from_secs(60)))));
        assert_eq!(rate("100/1h"), Ok(Some((100, Duration::from_secs(3600)))));
        assert_eq!(rate("0"), Ok(None));
        for bad in ["20", "0/1m", "x/1m", "20/", "20/0", "20/1w", "-1/1m"] {
            assert!(rate(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn booleans_are_strict() {
        assert_eq!(boolean("true"), Ok(true));
        assert_eq!(boolean("false"), Ok(false));
        assert!(boolean("yes").is_err());
        assert!(boolean("1").is_err());
    }

    #[test]
    fn lists_and_networks() {
        assert_eq!(list(" a, b ,,c,"), vec!["a", "b", "c"]);
        assert_eq!(ip_network("10.0.0.1").unwrap().to_string(), "10.0.0.1/32");
        assert_eq!(ip_network("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert!(ip_network("10.0.0.0/33").is_err());
        assert!(ip_network("proxy.local").is_err());
    }
}
