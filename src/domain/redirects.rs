//! Where Tessera may send a browser: `redirectTo` must match `TESSERA_ALLOWED_REDIRECT_URLS`
//! (or lie under the public URL), compared as parsed URLs, never as string prefixes, so
//! `https://app.example.com.evil.test` does not pass for `https://app.example.com`.

use url::Url;

/// The parsed `redirect_to` if it is allowed.
pub fn allowed_redirect(redirect_to: &str, allowed: &[String], public_url: &Url) -> Option<Url> {
    let target = Url::parse(redirect_to).ok()?;
    if !matches!(target.scheme(), "http" | "https")
        || !target.username().is_empty()
        || target.password().is_some()
    {
        return None;
    }
    let matches = |base: &Url| {
        let base_path = base.path().trim_end_matches('/');
        base.origin() == target.origin()
            && (target.path() == base_path
                || base_path.is_empty()
                || target.path().starts_with(&format!("{base_path}/")))
    };
    let listed = allowed
        .iter()
        .filter_map(|a| Url::parse(a).ok())
        .any(|a| matches(&a));
    (listed || matches(public_url)).then_some(target)
}

/// `url` with one more query parameter.
pub fn with_param(mut url: Url, name: &str, value: &str) -> Url {
    url.query_pairs_mut().append_pair(name, value);
    url
}

/// `url` with these parameters in its fragment, which browsers never send to a server.
/// A fragment the app already has (a hash router's `#/reset`) keeps its route: the
/// parameters follow it after `?` (or `&` when it has a query of its own).
pub fn with_fragment(mut url: Url, params: &[(&str, &str)]) -> Url {
    let encoded = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let fragment = match url.fragment() {
        None | Some("") => encoded,
        Some(route) if route.contains('?') => format!("{route}&{encoded}"),
        Some(route) => format!("{route}?{encoded}"),
    };
    url.set_fragment(Some(&fragment));
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_parameters_keep_a_hash_route() {
        let params = [("ticket", "a b"), ("type", "passwordReset")];
        let plain = with_fragment(Url::parse("https://app.test/reset").unwrap(), &params);
        assert_eq!(
            plain.as_str(),
            "https://app.test/reset#ticket=a+b&type=passwordReset"
        );
        assert_eq!(plain.query(), None);
        let routed = with_fragment(Url::parse("https://app.test/#/reset").unwrap(), &params);
        assert_eq!(
            routed.fragment(),
            Some("/reset?ticket=a+b&type=passwordReset")
        );
        let queried = with_fragment(Url::parse("https://app.test/#/r?x=1").unwrap(), &params);
        assert_eq!(
            queried.fragment(),
            Some("/r?x=1&ticket=a+b&type=passwordReset")
        );
    }

    #[test]
    fn only_listed_origins_and_paths_pass() {
        let allowed = vec![
            "https://app.example.com/auth".to_owned(),
            "http://localhost:3000".to_owned(),
        ];
        let public = Url::parse("https://id.example.com").unwrap();
        let ok = |u: &str| allowed_redirect(u, &allowed, &public).is_some();
        assert!(ok("https://app.example.com/auth"));
        assert!(ok("https://app.example.com/auth/callback?x=1"));
        assert!(ok("http://localhost:3000/anything"));
        assert!(ok("https://id.example.com/welcome"), "under the public URL");
        assert!(!ok("https://app.example.com/authority"), "path boundary");
        assert!(!ok("https://app.example.com.evil.test/auth"));
        assert!(!ok("https://evil.test/?https://app.example.com/auth"));
        assert!(!ok("http://app.example.com/auth"), "scheme matters");
        assert!(!ok("https://user@app.example.com/auth"));
        assert!(!ok("javascript:alert(1)"));
        assert!(!ok("/relative"));
        assert!(!ok("https://app.example.com:444/auth"), "port matters");
    }
}
