//! Cookie transport, CSRF, CORS and the SSR refresh bounce, checked header by header.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::header::{COOKIE, ORIGIN, SET_COOKIE};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use tower_cookies::cookie::{Cookie, SameSite};

use crate::both_backends;
use crate::helpers::{Backend, PASSWORD, TestApp, assert_error, unique_email};

const ORIGIN_OK: &str = "http://localhost:4000";
const ACCESS: &str = "__Host-tessera-token";
const REFRESH: &str = "__Secure-tessera-refresh-token";
const HINT: &str = "tessera-session";

/// The Set-Cookie headers of a response, by name.
fn set_cookies(response: &Response) -> HashMap<String, Cookie<'static>> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| {
            assert!(v.len() < 4096, "a cookie stays under 4096 bytes");
            let cookie = Cookie::parse(v.to_str().unwrap().to_owned()).unwrap();
            (cookie.name().to_owned(), cookie)
        })
        .collect()
}

/// A `Cookie:` header value from cookies set earlier.
fn cookie_header(cookies: &HashMap<String, Cookie<'static>>, names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("{n}={}", cookies[*n].value()))
        .collect::<Vec<_>>()
        .join("; ")
}

async fn cookie_sign_in(app: &TestApp, email: &str) -> (Value, HashMap<String, Cookie<'static>>) {
    let response = app
        .client
        .post(app.url("/signin/email-password"))
        .header("tessera-auth-mode", "cookie")
        .header(ORIGIN, ORIGIN_OK)
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookies = set_cookies(&response);
    (response.json().await.unwrap(), cookies)
}

/// A state-changing request as a browser on an allowed origin sends it.
fn browser_post(app: &TestApp, path: &str, cookie: String) -> RequestBuilder {
    app.client
        .post(app.url(path))
        .header(COOKIE, cookie)
        .header(ORIGIN, ORIGIN_OK)
        .json(&json!({}))
}

async fn cookie_mode_sets_three_cookies_with_the_spec_attributes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = unique_email();
    app.sign_up(&email).await;
    let (body, cookies) = cookie_sign_in(&app, &email).await;
    assert!(
        body["session"].get("refreshToken").is_none(),
        "no refresh token in the body"
    );
    assert!(
        body["session"].get("accessToken").is_none(),
        "nor the access token by default"
    );
    assert!(body["session"]["refreshTokenId"].is_string());

    let month = time::Duration::days(30);
    let access = &cookies[ACCESS];
    assert_eq!(
        (access.http_only(), access.secure()),
        (Some(true), Some(true))
    );
    assert_eq!(access.same_site(), Some(SameSite::Strict));
    assert_eq!(access.path(), Some("/"));
    assert_eq!(access.max_age(), Some(month));
    assert_eq!(access.domain(), None, "__Host- cookies have no Domain");
    assert_eq!(access.value().split('.').count(), 3, "a JWT");

    let refresh = &cookies[REFRESH];
    assert_eq!(
        (refresh.http_only(), refresh.secure()),
        (Some(true), Some(true))
    );
    assert_eq!(refresh.path(), Some("/token"));
    assert_eq!(refresh.max_age(), Some(month));
    assert_eq!(refresh.value().len(), 98, "a refresh token");

    let hint = &cookies[HINT];
    assert_ne!(
        hint.http_only(),
        Some(true),
        "scripts and SSR code can read the hint"
    );
    assert_eq!(hint.path(), Some("/"));
    assert!(!hint.value().contains('.'), "the hint holds no token");
}

async fn cookie_attributes_follow_the_configuration(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("TESSERA_PUBLIC_URL", "https://auth.example.com/base"),
            ("TESSERA_COOKIE_DOMAIN", "example.com"),
            ("TESSERA_COOKIE_SAMESITE", "lax"),
            ("TESSERA_DEFAULT_AUTH_MODE", "cookie"),
            ("TESSERA_EXPOSE_ACCESS_TOKEN", "true"),
        ],
    )
    .await;
    let response = app
        .client
        .post(app.url("/base/signup/email-password"))
        .header(ORIGIN, "https://auth.example.com")
        .json(&json!({ "email": unique_email(), "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookies = set_cookies(&response);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["session"]["accessToken"].is_string(),
        "exposed on request of the operator"
    );
    assert!(body["session"].get("refreshToken").is_none());
    let access = &cookies["tessera-token"];
    assert_eq!(
        access.domain(),
        Some("example.com"),
        "no prefix with a Domain"
    );
    assert_eq!(access.same_site(), Some(SameSite::Lax));
    assert_eq!(access.secure(), Some(true), "https public URL means Secure");
    assert_eq!(cookies["tessera-refresh-token"].path(), Some("/base/token"));

    let plain = TestApp::spawn_with(backend, &[("TESSERA_COOKIE_SECURE", "false")]).await;
    let email = unique_email();
    plain.sign_up(&email).await;
    let (_, cookies) = cookie_sign_in(&plain, &email).await;
    assert!(
        cookies.contains_key("tessera-token"),
        "no __Host- prefix without Secure"
    );
    assert_eq!(cookies["tessera-token"].secure(), None);
}

async fn refresh_and_sign_out_through_cookies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = unique_email();
    app.sign_up(&email).await;
    let (_, first) = cookie_sign_in(&app, &email).await;

    app.clock.advance(Duration::from_secs(600));
    let refreshed = browser_post(&app, "/token", cookie_header(&first, &[REFRESH]))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), StatusCode::OK);
    let second = set_cookies(&refreshed);
    let body: Value = refreshed.json().await.unwrap();
    assert!(
        body.get("refreshToken").is_none(),
        "a cookie-borne token is never put in a body"
    );
    assert_ne!(second[REFRESH].value(), first[REFRESH].value());
    assert_eq!(
        second[REFRESH].max_age(),
        Some(time::Duration::days(30)),
        "rotation rewrites Max-Age"
    );

    // A backend reads the access cookie.
    let user = app
        .client
        .get(app.url("/user"))
        .header(COOKIE, cookie_header(&second, &[ACCESS]))
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), StatusCode::OK);

    // The browser sends only the access and hint cookies to /signout (the refresh cookie's
    // path is /token); that is enough to revoke the session server-side.
    let signout = browser_post(&app, "/signout", cookie_header(&second, &[ACCESS, HINT]))
        .send()
        .await
        .unwrap();
    assert_eq!(signout.status(), StatusCode::OK);
    let cleared = set_cookies(&signout);
    for (name, path) in [(ACCESS, "/"), (REFRESH, "/token"), (HINT, "/")] {
        let cookie = &cleared[name];
        assert_eq!(cookie.value(), "", "{name}");
        assert_eq!(cookie.max_age(), Some(time::Duration::ZERO), "{name}");
        assert_eq!(cookie.path(), Some(path), "{name}");
    }
    let after = browser_post(&app, "/token", cookie_header(&second, &[REFRESH]))
        .send()
        .await
        .unwrap();
    assert_error(after, StatusCode::UNAUTHORIZED, "invalid-refresh-token").await;

    // Signing out again, with nothing at all, still clears the cookies.
    let again = app.client.post(app.url("/signout")).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(set_cookies(&again).len(), 3);
}

async fn an_expired_access_cookie_means_refresh_first(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = unique_email();
    app.sign_up(&email).await;
    let (_, cookies) = cookie_sign_in(&app, &email).await;
    app.clock.advance(Duration::from_secs(3601));
    let user = app
        .client
        .get(app.url("/user"))
        .header(COOKIE, cookie_header(&cookies, &[ACCESS]))
        .send()
        .await
        .unwrap();
    assert_error(user, StatusCode::UNAUTHORIZED, "invalid-token").await;
}

async fn the_bearer_header_wins_over_the_access_cookie(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.sign_up(&unique_email()).await;
    let bob_email = unique_email();
    app.sign_up(&bob_email).await;
    let (_, bob_cookies) = cookie_sign_in(&app, &bob_email).await;
    let me: Value = app
        .client
        .get(app.url("/user"))
        .bearer_auth(alice["accessToken"].as_str().unwrap())
        .header(COOKIE, cookie_header(&bob_cookies, &[ACCESS]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], alice["user"]["id"]);
}

async fn csrf_refuses_cross_site_and_non_json_requests(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = unique_email();
    app.sign_up(&email).await;
    let (_, cookies) = cookie_sign_in(&app, &email).await;
    let refresh_cookie = cookie_header(&cookies, &[REFRESH]);
    let post = |content_type: &'static str, body: &'static str| {
        app.client
            .post(app.url("/token"))
            .header(COOKIE, refresh_cookie.clone())
            .header(ORIGIN, ORIGIN_OK)
            .header("content-type", content_type)
            .body(body)
    };
    for (content_type, body) in [
        ("text/plain", "{}"),
        ("application/x-www-form-urlencoded", "a=b"),
        ("multipart/form-data; boundary=x", "--x--"),
    ] {
        let response = post(content_type, body).send().await.unwrap();
        assert_error(
            response,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        )
        .await;
    }
    let foreign = app
        .client
        .post(app.url("/token"))
        .header(COOKIE, refresh_cookie.clone())
        .header(ORIGIN, "https://evil.example")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_error(foreign, StatusCode::FORBIDDEN, "invalid-origin").await;
    let cross_site = app
        .client
        .post(app.url("/signout"))
        .header(COOKIE, cookie_header(&cookies, &[ACCESS]))
        .header("sec-fetch-site", "cross-site")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_error(cross_site, StatusCode::FORBIDDEN, "invalid-origin").await;
    let null_origin = app
        .client
        .post(app.url("/token"))
        .header(COOKIE, refresh_cookie.clone())
        .header(ORIGIN, "null")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_error(null_origin, StatusCode::FORBIDDEN, "invalid-origin").await;

    // None of the refused requests touched the session; a same-origin one works.
    let same_origin = app
        .client
        .post(app.url("/token"))
        .header(COOKIE, refresh_cookie)
        .header("sec-fetch-site", "same-origin")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(same_origin.status(), StatusCode::OK);
}

async fn cors_allows_exactly_the_listed_origins(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[("TESSERA_ALLOWED_ORIGINS", "https://app.example.com")],
    )
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/token"))
            .header(ORIGIN, origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,tessera-auth-mode",
            )
            .send()
    };
    let allowed = preflight("https://app.example.com").await.unwrap();
    assert!(allowed.status().is_success());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(
        allowed.headers()["access-control-allow-credentials"],
        "true"
    );
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(methods.contains("POST"), "{methods}");

    let public_origin = preflight("http://localhost:4000").await.unwrap();
    assert_eq!(
        public_origin.headers()["access-control-allow-origin"],
        "http://localhost:4000"
    );

    let unlisted = preflight("https://evil.example").await.unwrap();
    assert!(
        unlisted
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert!(
        unlisted
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );

    let simple = app
        .client
        .get(app.url("/healthz"))
        .header(ORIGIN, "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_ne!(simple.headers()["access-control-allow-origin"], "*");
}

async fn the_ssr_bounce_refreshes_and_redirects_only_where_allowed(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[("TESSERA_ALLOWED_REDIRECT_URLS", "https://app.example.com/")],
    )
    .await;
    let email = unique_email();
    app.sign_up(&email).await;
    let (_, cookies) = cookie_sign_in(&app, &email).await;
    let bounce = |cookie: Option<String>, to: &str| {
        let mut request = app
            .client
            .get(app.url("/token/refresh"))
            .query(&[("redirectTo", to)]);
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        request.send()
    };

    let ok = bounce(
        Some(cookie_header(&cookies, &[REFRESH])),
        "https://app.example.com/dash?tab=1",
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        ok.headers()["location"],
        "https://app.example.com/dash?tab=1"
    );
    let fresh = set_cookies(&ok);
    assert_ne!(fresh[REFRESH].value(), cookies[REFRESH].value());
    assert!(!fresh[ACCESS].value().is_empty());

    let stale = bounce(
        Some(cookie_header(&cookies, &[REFRESH])),
        "https://app.example.com/dash",
    )
    .await
    .unwrap();
    assert_eq!(
        stale.status(),
        StatusCode::SEE_OTHER,
        "the replaced cookie, in the grace window"
    );
    app.clock.advance(Duration::from_secs(60));
    let none = bounce(None, "https://app.example.com/dash").await.unwrap();
    assert_eq!(none.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        none.headers()["location"],
        "https://app.example.com/dash?error=invalid-refresh-token"
    );
    assert_eq!(
        set_cookies(&none)[ACCESS].max_age(),
        Some(time::Duration::ZERO),
        "cookies cleared"
    );

    for to in [
        "https://evil.example/",
        "https://app.example.com.evil.example/",
        "//evil.example",
    ] {
        let open = bounce(Some(cookie_header(&fresh, &[REFRESH])), to)
            .await
            .unwrap();
        assert!(
            open.headers().get("location").is_none(),
            "no open redirect to {to}"
        );
        assert_error(open, StatusCode::BAD_REQUEST, "invalid-request").await;
    }
}

both_backends!(
    cookie_mode_sets_three_cookies_with_the_spec_attributes,
    cookie_attributes_follow_the_configuration,
    refresh_and_sign_out_through_cookies,
    an_expired_access_cookie_means_refresh_first,
    the_bearer_header_wins_over_the_access_cookie,
    csrf_refuses_cross_site_and_non_json_requests,
    cors_allows_exactly_the_listed_origins,
    the_ssr_bounce_refreshes_and_redirects_only_where_allowed,
);

/// `%5F%5FHost-tessera-token` is not `__Host-tessera-token`: a browser gives the encoded
/// name none of the prefix's protection, so a sibling subdomain or a plain-http hop can set
/// it. Decoding it would let an attacker fix a victim into the attacker's session.
async fn percent_encoded_cookie_names_are_other_cookies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let victim_email = unique_email();
    app.sign_up(&victim_email).await;
    let (victim, victim_cookies) = cookie_sign_in(&app, &victim_email).await;
    let attacker = app.sign_up(&unique_email()).await;
    let attacker_token = attacker["accessToken"].as_str().unwrap();
    let user = |cookie: String| {
        app.client
            .get(app.url("/user"))
            .header(COOKIE, cookie)
            .send()
    };

    let encoded = user(format!("%5F%5FHost-tessera-token={attacker_token}"))
        .await
        .unwrap();
    assert_error(encoded, StatusCode::UNAUTHORIZED, "invalid-token").await;
    let both = user(format!(
        "%5F%5FHost-tessera-token={attacker_token}; {}",
        cookie_header(&victim_cookies, &[ACCESS])
    ))
    .await
    .unwrap();
    assert_eq!(both.status(), StatusCode::OK);
    let me: Value = both.json().await.unwrap();
    assert_eq!(
        me["id"], victim["session"]["user"]["id"],
        "the genuine cookie wins"
    );

    // A refresh cookie under an encoded name is no credential: no rotation from a foreign
    // origin without JSON, and the real token stays live.
    let refresh = attacker["refreshToken"].as_str().unwrap();
    let foreign = app
        .client
        .post(app.url("/token"))
        .header(
            COOKIE,
            format!("%5F%5FSecure-tessera-refresh-token={refresh}"),
        )
        .header(ORIGIN, "https://evil.example")
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_ne!(foreign.status(), StatusCode::OK, "no rotation");
    assert!(
        foreign
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .next()
            .is_none()
    );
    assert_eq!(
        app.refresh(refresh).await.status(),
        StatusCode::OK,
        "still live"
    );
}

both_backends!(percent_encoded_cookie_names_are_other_cookies);

/// A cross-site form posting to /signout sends no cookies (SameSite), yet used to get 200
/// and cookie-clearing headers. Sign-out follows the origin rule of every state-changing
/// browser request; a client that is no browser (no `Origin`, no `Sec-Fetch-Site`) is
/// unaffected.
async fn a_cross_site_form_cannot_sign_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let form = app
        .client
        .post(app.url("/signout"))
        .header(ORIGIN, "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert!(
        form.headers().get_all(SET_COOKIE).iter().next().is_none(),
        "no cookie is cleared"
    );
    // The gate checks the content type first, as for every cookie request.
    assert_error(
        form,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
    )
    .await;
    let foreign_json = app
        .client
        .post(app.url("/signout"))
        .header(ORIGIN, "https://evil.example")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_error(foreign_json, StatusCode::FORBIDDEN, "invalid-origin").await;

    // The app's own page, and a server-side client, still sign out.
    let session = app.sign_up(&unique_email()).await;
    let own = app
        .client
        .post(app.url("/signout"))
        .header(ORIGIN, ORIGIN_OK)
        .json(&json!({ "refreshToken": session["refreshToken"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::OK);
    let server = app.post_json("/signout", &json!({})).await;
    assert_eq!(server.status(), StatusCode::OK);
}

both_backends!(a_cross_site_form_cannot_sign_out);
