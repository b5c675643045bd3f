//! The cookie and Authorization header parsing that finds a request's token: any header
//! values give a token or none, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (authorization, cookies) = text.split_once('\n').unwrap_or((text, text));
    let name = tessera_verify::ACCESS_COOKIE;
    let mut headers = cookies.split('\n');
    let token = tessera_verify::token_from_headers(Some(authorization), &mut headers, name);
    if let Some(token) = token {
        assert!(!token.is_empty());
    }
    let mut headers = cookies.split('\n');
    if let Some(token) = tessera_verify::token_from_headers(None, &mut headers, name) {
        // Only a pair whose name is exactly the access cookie's, never a decoded one.
        assert!(
            cookies
                .split(['\n', ';'])
                .any(|pair| pair.trim().split_once('=') == Some((name, token.as_str())))
        );
    }
});
