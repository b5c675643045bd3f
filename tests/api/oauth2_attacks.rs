//! Attacks on the OAuth provider found in review: each test states the behaviour the
//! provider owes, and failed on `main` at d839def.

use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, TestApp, unique_email};
use crate::oauth2::{code_for, pkce, provider, register};

const REDIRECT: &str = "http://localhost:9999/callback";

/// A user's Tessera session, and a grant with `offline_access` that an app (client
/// `client_id` with `secret`) got for that user: (session, client id, token response).
async fn user_with_grant(app: &TestApp) -> (Value, String, Value) {
    let session = app.sign_up(&unique_email()).await;
    let client = register(
        app,
        json!({ "name": "Some third-party app", "redirectUris": [REDIRECT] }),
    )
    .await;
    let client_id = client["clientId"].as_str().unwrap().to_owned();
    let secret = client["clientSecret"].as_str().unwrap().to_owned();
    let (verifier, challenge) = pkce();
    let code = code_for(
        app,
        &client_id,
        &challenge,
        "openid offline_access",
        session["accessToken"].as_str().unwrap(),
    )
    .await;
    let response = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    (session, client_id, response.json().await.unwrap())
}

/// An app holds only its grant's refresh token. Tessera's `POST /signout` must not take it
/// as a Tessera session's token: with `all: true` it would end every session of the user
/// (their own sign-ins and every other app's grants). A grant's token (version byte 2) is
/// refused at `POST /token`; `/signout` must refuse it too.
async fn an_apps_refresh_token_cannot_sign_the_user_out_everywhere(backend: Backend) {
    let app = provider(backend, &[]).await;
    let (session, _, tokens) = user_with_grant(&app).await;
    let grant_refresh = tokens["refresh_token"].as_str().unwrap();

    let response = app
        .client
        .post(app.url("/signout"))
        .json(&json!({ "refreshToken": grant_refresh, "all": true }))
        .send()
        .await
        .unwrap();
    let status = response.status();

    // The user's own Tessera session must be untouched.
    let own = app.refresh(session["refreshToken"].as_str().unwrap()).await;
    assert_eq!(
        own.status(),
        StatusCode::OK,
        "an app's grant refresh token at POST /signout {{all: true}} (answered {status}) \
         ended the user's own Tessera session"
    );
    app.stop().await;
}

/// Unauthenticated input with a NUL character (a valid UTF-8 code point, but not storable
/// in a Postgres `TEXT`) must be a 4xx, never a 500: in a `client_id` at `/oauth2/authorize`,
/// `/oauth2/token` and `/oauth2/logout`, and in `state` / `nonce` of a valid request.
async fn a_nul_character_is_a_client_error_not_a_server_error(backend: Backend) {
    let app = provider(backend, &[]).await;
    let client = register(
        &app,
        json!({ "name": "App", "redirectUris": [REDIRECT], "public": true }),
    )
    .await;
    let client_id = client["clientId"].as_str().unwrap();
    let (_, challenge) = pkce();
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: String| {
        let client = no_redirects.clone();
        let url = app.url(&path);
        async move { client.get(url).send().await.unwrap().status() }
    };
    let mut failures = Vec::new();
    let status = get("/oauth2/authorize?client_id=%00".into()).await;
    if status.is_server_error() {
        failures.push(format!("authorize client_id=%00: {status}"));
    }
    let valid = format!(
        "/oauth2/authorize?response_type=code&client_id={client_id}&redirect_uri={}\
         &scope=openid&code_challenge={challenge}&code_challenge_method=S256",
        urlencoding(REDIRECT)
    );
    for extra in ["&state=a%00b", "&nonce=a%00b"] {
        let status = get(format!("{valid}{extra}")).await;
        if status.is_server_error() {
            failures.push(format!("authorize {extra}: {status}"));
        }
    }
    let status =
        get("/oauth2/logout?client_id=%00&post_logout_redirect_uri=https%3A%2F%2Fx.example".into())
            .await;
    if status.is_server_error() {
        failures.push(format!("logout client_id=%00: {status}"));
    }
    let token = no_redirects
        .post(app.url("/oauth2/token"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("grant_type=authorization_code&client_id=%00&code=x&redirect_uri=x")
        .send()
        .await
        .unwrap()
        .status();
    if token.is_server_error() {
        failures.push(format!("token client_id=%00: {token}"));
    }
    assert!(failures.is_empty(), "5xx on a NUL character: {failures:?}");
    app.stop().await;
}

/// The shipped sign-in page (`POST /oauth2/ui/signin`) reads the device cookie that stops
/// lockout being used as a weapon, and sets one on success. But the cookie's `Path` is
/// `<base>/signin`, which a browser never sends to `<base>/oauth2/ui/signin`: on the page a
/// user's known browser is as locked out as an attacker's. The cookie the page sets must
/// come back to the page.
async fn the_pages_device_cookie_comes_back_to_the_page(backend: Backend) {
    let app = provider(backend, &[("TESSERA_RATE_LIMIT_FAILED_SIGNINS", "3/1h")]).await;
    let email = unique_email();
    app.sign_up(&email).await;
    let client = register(
        &app,
        json!({ "name": "App", "redirectUris": [REDIRECT], "firstParty": true }),
    )
    .await;
    let client_id = client["clientId"].as_str().unwrap();
    let (_, challenge) = pkce();
    let authorize = format!(
        "/oauth2/authorize?response_type=code&client_id={client_id}&redirect_uri={}\
         &scope=openid&code_challenge={challenge}&code_challenge_method=S256",
        urlencoding(REDIRECT)
    );
    let response = app.client.get(app.url(&authorize)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let browser = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-tessera-oauth2-browser="))
        .expect("the browser cookie");
    let location = url::Url::parse(response.headers()[header::LOCATION].to_str().unwrap()).unwrap();
    let request_id = location
        .query_pairs()
        .find(|(k, _)| k == "request_id")
        .unwrap()
        .1
        .into_owned();
    let signin_path = "/oauth2/ui/signin";
    let response = app
        .client
        .post(app.url(signin_path))
        .header(header::ORIGIN, app.state.config.server.public_origin())
        .header(header::COOKIE, browser)
        .form(&[
            ("request_id", request_id.as_str()),
            ("email", email.as_str()),
            ("password", crate::helpers::PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "signed in on the page"
    );
    let devices: Vec<String> = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .filter(|c| c.starts_with("tessera-device"))
        .collect();
    assert!(!devices.is_empty(), "the page sets a device cookie");
    // RFC 6265 5.1.4: sent only where the request path is the cookie path or below it.
    let reaches_page = |cookie: &String| {
        let path = cookie
            .split(';')
            .map(str::trim)
            .find_map(|a| a.strip_prefix("Path="))
            .unwrap_or("/");
        signin_path == path || signin_path.starts_with(&format!("{}/", path.trim_end_matches('/')))
    };
    let Some(device) = devices.iter().find(|c| reaches_page(c)) else {
        panic!("none of the page's device cookies ({devices:?}) reaches {signin_path}");
    };
    let device = device.split(';').next().unwrap().to_owned();

    // And it works there: once someone else's wrong passwords have locked the account, this
    // browser still signs in on the page with it, and another browser does not.
    for _ in 0..4 {
        app.post_json(
            "/signin/email-password",
            &json!({ "email": email, "password": "not-the-password-1" }),
        )
        .await;
    }
    let page_sign_in = |cookies: String| {
        let app = &app;
        let authorize = authorize.clone();
        let email = email.clone();
        async move {
            let response = app.client.get(app.url(&authorize)).send().await.unwrap();
            let browser = response
                .headers()
                .get_all(header::SET_COOKIE)
                .iter()
                .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
                .find(|c| c.starts_with("__Host-tessera-oauth2-browser="))
                .unwrap();
            let location =
                url::Url::parse(response.headers()[header::LOCATION].to_str().unwrap()).unwrap();
            let request_id = location
                .query_pairs()
                .find(|(k, _)| k == "request_id")
                .unwrap()
                .1
                .into_owned();
            let cookie = if cookies.is_empty() {
                browser
            } else {
                format!("{browser}; {cookies}")
            };
            app.client
                .post(app.url("/oauth2/ui/signin"))
                .header(header::ORIGIN, app.state.config.server.public_origin())
                .header(header::COOKIE, cookie)
                .form(&[
                    ("request_id", request_id.as_str()),
                    ("email", email.as_str()),
                    ("password", crate::helpers::PASSWORD),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_ne!(
        page_sign_in(String::new()).await,
        StatusCode::SEE_OTHER,
        "the account is locked for a browser without the device cookie"
    );
    assert_eq!(
        page_sign_in(device).await,
        StatusCode::SEE_OTHER,
        "the device cookie lets its browser past the lockout on the page"
    );
    app.stop().await;
}

fn urlencoding(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

/// With Secure cookies the browser binding is a `__Host-` cookie, so that a sibling host cannot
/// plant a value of its choosing; a cookie of the plain name does not bind anything then.
async fn the_browser_binding_cannot_be_planted_by_a_sibling_host(backend: Backend) {
    let app = provider(
        backend,
        &[("TESSERA_PUBLIC_URL", "https://auth.example.test")],
    )
    .await;
    let client = register(
        &app,
        json!({ "name": "App", "redirectUris": [REDIRECT], "firstParty": true }),
    )
    .await;
    let client_id = client["clientId"].as_str().unwrap();
    let (_, challenge) = pkce();
    let authorize = format!(
        "/oauth2/authorize?response_type=code&client_id={client_id}&redirect_uri={}\
         &scope=openid&code_challenge={challenge}&code_challenge_method=S256",
        urlencoding(REDIRECT)
    );
    let response = app.client.get(app.url(&authorize)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let set = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.contains("tessera-oauth2-browser="))
        .expect("the browser cookie");
    assert!(set.starts_with("__Host-tessera-oauth2-browser="), "{set}");
    assert!(set.contains("Path=/;") || set.ends_with("Path=/"), "{set}");
    assert!(set.contains("Secure"), "{set}");
    assert!(!set.contains("Domain"), "{set}");
    let value = set
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let location = url::Url::parse(response.headers()[header::LOCATION].to_str().unwrap()).unwrap();
    let page = format!("/oauth2/ui?{}", location.query().unwrap());
    let shown = app
        .client
        .get(app.url(&page))
        .header(
            header::COOKIE,
            format!("__Host-tessera-oauth2-browser={value}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(shown.status(), StatusCode::OK, "the real cookie binds");
    let planted = app
        .client
        .get(app.url(&page))
        .header(header::COOKIE, format!("tessera-oauth2-browser={value}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        planted.status(),
        StatusCode::BAD_REQUEST,
        "a cookie any sibling host could set binds nothing"
    );
    app.stop().await;
}

both_backends!(
    the_browser_binding_cannot_be_planted_by_a_sibling_host,
    an_apps_refresh_token_cannot_sign_the_user_out_everywhere,
    a_nul_character_is_a_client_error_not_a_server_error,
    the_pages_device_cookie_comes_back_to_the_page,
);
