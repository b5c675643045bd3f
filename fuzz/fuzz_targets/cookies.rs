//! The cookie and Authorization header parsing that finds a request's token, in the
//! verifier crate and in Tessera itself: any header values give a token or none, never a
//! panic, and a token only ever comes from a pair whose name is exactly the cookie's name
//! (never a percent-decoded or case-folded one). Seeds with encoded names are in
//! fuzz/seeds/cookies.
#![no_main]

use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue, header::COOKIE};
use libfuzzer_sys::fuzz_target;
use tessera::config::Config;
use tessera::http::cookies::{CookiePolicy, raw_cookie_values};

/// Whether `cookies` holds the pair `name=value`, name byte for byte, the value trimmed
/// and without surrounding quotes (as both parsers read it).
fn sent(cookies: &str, name: &str, value: &str) -> bool {
    cookies
        .split(['\n', ';'])
        .filter_map(|pair| pair.split_once('='))
        .any(|(n, v)| n.trim() == name && v.trim().trim_matches('"') == value)
}

fn policy() -> &'static CookiePolicy {
    static POLICY: OnceLock<CookiePolicy> = OnceLock::new();
    POLICY.get_or_init(|| {
        let config = Config::from_lookup(&|_| None).expect("the default configuration");
        CookiePolicy::new(&config)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (authorization, cookies) = text.split_once('\n').unwrap_or((text, text));

    // The verifier crate.
    let name = tessera_verify::ACCESS_COOKIE;
    let mut headers = cookies.split('\n');
    let token = tessera_verify::token_from_headers(Some(authorization), &mut headers, name);
    if let Some(token) = token {
        assert!(!token.is_empty());
    }
    let mut headers = cookies.split('\n');
    if let Some(token) = tessera_verify::token_from_headers(None, &mut headers, name) {
        assert!(sent(cookies, name, &token));
    }

    // Tessera: the credential readers and the CSRF gate read the same pairs.
    let mut map = HeaderMap::new();
    for line in cookies.split('\n') {
        if let Ok(value) = HeaderValue::from_str(line) {
            map.append(COOKIE, value);
        }
    }
    let policy = policy();
    let access = policy.access_token(&map);
    let refresh = policy.refresh_token(&map);
    if let Some(token) = &access {
        assert!(sent(cookies, policy.access_name, token));
    }
    if let Some(token) = &refresh {
        assert!(sent(cookies, policy.refresh_name, token));
    }
    if access.is_some() || refresh.is_some() {
        assert!(policy.carries_credentials(&map), "the gate sees what the readers read");
    }
    for value in raw_cookie_values(&map, "tessera-device") {
        assert!(sent(cookies, "tessera-device", &value));
    }
});
