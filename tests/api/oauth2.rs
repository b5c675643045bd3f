//! Tessera as an OAuth 2.1 / OpenID provider, over plain HTTP on both stores: the code flow
//! with PKCE through Nhost's login hand-over, the tokens an app gets, and every refusal the
//! provider owes (a redirect URI not registered, a reused, expired or misbound code, a wrong
//! secret, no PKCE, the implicit flow, a scope not allowed, a revoked grant's refresh token).
//! Third-party relying parties are in `oauth2_rps.rs`; the shipped pages in
//! `oauth2_pages.rs`.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Response, StatusCode, header};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::both_backends;
use crate::helpers::{Backend, PASSWORD, TestApp, unique_email};

pub const ADMIN_SECRET: &str = "an-admin-secret-for-the-oauth2-tests-0123456789";
const REDIRECT: &str = "http://localhost:9999/callback";
const LOGOUT_REDIRECT: &str = "http://localhost:9999/signed-out";

/// A server with the provider on, the admin API, and no reuse grace (so reuse is reuse).
pub async fn provider(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![
        ("TESSERA_OAUTH2_PROVIDER", "true"),
        ("TESSERA_ADMIN_SECRET", ADMIN_SECRET),
        ("TESSERA_REFRESH_REUSE_GRACE", "0"),
    ];
    vars.extend_from_slice(extra);
    TestApp::spawn_with(backend, &vars).await
}

/// Registers a client through the admin API; its JSON (with `clientSecret` if any).
pub async fn register(app: &TestApp, body: Value) -> Value {
    let response = app
        .client
        .post(app.url("/oauth2/clients"))
        .header("x-tessera-admin-secret", ADMIN_SECRET)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED, "client registered");
    response.json().await.unwrap()
}

async fn confidential(app: &TestApp) -> (String, String) {
    let client = register(
        app,
        json!({
            "name": "Dashboard",
            "redirectUris": [REDIRECT],
            "postLogoutRedirectUris": [LOGOUT_REDIRECT],
        }),
    )
    .await;
    (
        client["clientId"].as_str().unwrap().to_owned(),
        client["clientSecret"].as_str().unwrap().to_owned(),
    )
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    let challenge = URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()));
    (verifier, challenge)
}

fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn authorize(app: &TestApp, params: &[(&str, &str)]) -> Response {
    let url = url::Url::parse_with_params(&app.url("/oauth2/authorize"), params).unwrap();
    app.client.get(url).send().await.unwrap()
}

/// The standard authorization parameters for `client_id`.
fn params<'a>(client_id: &'a str, challenge: &'a str, scope: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
}

/// Authorize and approve as the user of `access_token` (Nhost's hand-over): the code.
pub async fn code_for(
    app: &TestApp,
    client_id: &str,
    challenge: &str,
    scope: &str,
    access_token: &str,
) -> String {
    let response = authorize(app, &params(client_id, challenge, scope)).await;
    assert_eq!(response.status(), StatusCode::FOUND, "to the login page");
    let location = response.headers()[header::LOCATION].to_str().unwrap();
    let request_id = query_of(location)["request_id"].clone();
    let pending: Value = app
        .client
        .get(app.url(&format!("/oauth2/login?request_id={request_id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pending["clientId"], client_id);
    let approved = app
        .client
        .post(app.url("/oauth2/login"))
        .bearer_auth(access_token)
        .json(&json!({ "requestId": request_id }))
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), StatusCode::OK, "approved");
    let body: Value = approved.json().await.unwrap();
    let back = query_of(body["redirectUri"].as_str().unwrap());
    assert_eq!(back["state"], "st-123");
    assert_eq!(back["iss"], app.state.config.tokens.issuer);
    back["code"].clone()
}

async fn token(app: &TestApp, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Response {
    let mut request = app.client.post(app.url("/oauth2/token")).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    request.send().await.unwrap()
}

async fn exchange(app: &TestApp, code: &str, verifier: &str, client: (&str, &str)) -> Response {
    token(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
        Some(client),
    )
    .await
}

async fn refresh(app: &TestApp, refresh_token: &str, client: (&str, &str)) -> Response {
    token(
        app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
        Some(client),
    )
    .await
}

async fn oauth_error(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert_eq!(body["status"], status.as_u16());
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    body
}

fn claims(jwt: &str) -> (Value, Value) {
    let mut parts = jwt.split('.');
    let header = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
    let payload = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
    (
        serde_json::from_slice(&header).unwrap(),
        serde_json::from_slice(&payload).unwrap(),
    )
}

async fn userinfo(app: &TestApp, access_token: &str) -> Response {
    app.client
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
}

/// A user, their Tessera session, and a fresh confidential client's grant with
/// `offline_access`: the token response.
async fn granted(app: &TestApp) -> (Value, (String, String), Value) {
    let email = unique_email();
    let session = app.sign_up(&email).await;
    let client = confidential(app).await;
    let (verifier, challenge) = pkce();
    let code = code_for(
        app,
        &client.0,
        &challenge,
        "openid profile email offline_access",
        session["accessToken"].as_str().unwrap(),
    )
    .await;
    let response = exchange(app, &code, &verifier, (&client.0, &client.1)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Value = response.json().await.unwrap();
    (session, client, tokens)
}

async fn the_code_flow_gives_an_app_its_own_tokens(backend: Backend) {
    let app = provider(backend, &[]).await;
    let email = unique_email();
    let session = app.sign_up(&email).await;
    let user_id = session["user"]["id"].as_str().unwrap().to_owned();
    let (client_id, secret) = confidential(&app).await;
    let (verifier, challenge) = pkce();
    let code = code_for(
        &app,
        &client_id,
        &challenge,
        "openid email offline_access",
        session["accessToken"].as_str().unwrap(),
    )
    .await;
    let response = exchange(&app, &code, &verifier, (&client_id, &secret)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "openid email offline_access");
    assert_eq!(tokens["expires_in"], 3600);

    // RFC 9068 access token: at+jwt, for this client.
    let access = tokens["access_token"].as_str().unwrap();
    let (header, at) = claims(access);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(at["aud"], client_id.as_str());
    assert_eq!(at["client_id"], client_id.as_str());
    assert_eq!(at["sub"], user_id.as_str());
    assert_eq!(at["scope"], "openid email offline_access");
    assert!(at["jti"].is_string());

    // The ID token: for this client, with nonce, at_hash of that access token, auth_time.
    let (_, id) = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["aud"], client_id.as_str());
    assert_eq!(id["sub"], user_id.as_str());
    assert_eq!(id["iss"], app.state.config.tokens.issuer);
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["email"], email.as_str());
    assert_eq!(id["email_verified"], false);
    assert!(id.get("name").is_none(), "profile was not asked for");
    assert_eq!(id["amr"], json!(["pwd"]));
    let hash = sha256(access.as_bytes());
    assert_eq!(id["at_hash"], URL_SAFE_NO_PAD.encode(&hash[..16]));
    assert!(id["auth_time"].as_i64().unwrap() <= id["iat"].as_i64().unwrap());

    // Userinfo answers for the app's token.
    let info = userinfo(&app, access).await;
    assert_eq!(info.status(), StatusCode::OK);
    let info: Value = info.json().await.unwrap();
    assert_eq!(info["sub"], user_id.as_str());
    assert_eq!(info["email"], email.as_str());

    // The app's tokens never pass for a Tessera session's, nor the other way round.
    let user = app
        .client
        .get(app.url("/user"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.verify(access).await, StatusCode::UNAUTHORIZED);
    let grant_refresh = tokens["refresh_token"].as_str().unwrap();
    let tessera = app.refresh(grant_refresh).await;
    assert_eq!(tessera.status(), StatusCode::UNAUTHORIZED);
    let own = refresh(
        &app,
        session["refreshToken"].as_str().unwrap(),
        (&client_id, &secret),
    )
    .await;
    oauth_error(own, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let own_at = userinfo(&app, session["accessToken"].as_str().unwrap()).await;
    assert_eq!(own_at.status(), StatusCode::UNAUTHORIZED);
    assert!(
        own_at.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );

    // The refresh token still works (Tessera's /token did not touch it) and rotates.
    let rotated = refresh(&app, grant_refresh, (&client_id, &secret)).await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let rotated: Value = rotated.json().await.unwrap();
    assert_ne!(rotated["refresh_token"], tokens["refresh_token"]);
    let (_, again) = claims(rotated["id_token"].as_str().unwrap());
    assert_eq!(again["sub"], user_id.as_str());
    assert!(again.get("nonce").is_none());

    // The grant is the app's, not one of the user's sessions.
    let listed: Value = app
        .client
        .get(app.url("/user/sessions"))
        .bearer_auth(session["accessToken"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["sessions"][0]["current"], true);

    // Without offline_access there is no refresh token.
    let (verifier, challenge) = pkce();
    let code = code_for(
        &app,
        &client_id,
        &challenge,
        "openid",
        session["accessToken"].as_str().unwrap(),
    )
    .await;
    let plain: Value = exchange(&app, &code, &verifier, (&client_id, &secret))
        .await
        .json()
        .await
        .unwrap();
    assert!(plain.get("refresh_token").is_none());
    assert!(plain["id_token"].is_string());
}

async fn an_unregistered_redirect_uri_gets_a_page_never_a_redirect(backend: Backend) {
    let app = provider(backend, &[]).await;
    let (client_id, _) = confidential(&app).await;
    let (_, challenge) = pkce();
    for (client, redirect) in [
        (client_id.as_str(), "https://evil.example.com/callback"),
        (client_id.as_str(), "http://localhost:9999/callback/"),
        (client_id.as_str(), "http://localhost:9999/callback?x=1"),
        ("no-such-client", REDIRECT),
    ] {
        let mut query = params(client, &challenge, "openid");
        query.retain(|(k, _)| *k != "redirect_uri");
        query.push(("redirect_uri", redirect));
        let response = authorize(&app, &query).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{redirect}");
        assert!(response.headers().get(header::LOCATION).is_none());
        assert!(
            response.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let page = response.text().await.unwrap();
        assert!(!page.contains("evil.example.com"), "nothing echoed");
    }
}

async fn a_reused_code_is_refused_and_revokes_what_it_gave(backend: Backend) {
    let app = provider(backend, &[]).await;
    let session = app.sign_up(&unique_email()).await;
    let user_id: Uuid = session["user"]["id"].as_str().unwrap().parse().unwrap();
    let (client_id, secret) = confidential(&app).await;
    let (verifier, challenge) = pkce();
    let code = code_for(
        &app,
        &client_id,
        &challenge,
        "openid offline_access",
        session["accessToken"].as_str().unwrap(),
    )
    .await;
    let first: Value = exchange(&app, &code, &verifier, (&client_id, &secret))
        .await
        .json()
        .await
        .unwrap();
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&app, access).await.status(), StatusCode::OK);

    let again = exchange(&app, &code, &verifier, (&client_id, &secret)).await;
    oauth_error(again, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // What the first exchange gave is revoked: refresh token and access token alike.
    let refreshed = refresh(
        &app,
        first["refresh_token"].as_str().unwrap(),
        (&client_id, &secret),
    )
    .await;
    oauth_error(refreshed, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(
        userinfo(&app, access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM security_events WHERE kind = 'oauth2-code-reused' AND user_id = $1",
            user_id
        )
        .await,
        1
    );
    // The user's own Tessera session is untouched.
    assert_eq!(
        app.verify(session["accessToken"].as_str().unwrap()).await,
        StatusCode::OK
    );
}

async fn a_spent_code_from_another_client_revokes_nothing(backend: Backend) {
    let app = provider(backend, &[]).await;
    let session = app.sign_up(&unique_email()).await;
    let (client_a, secret_a) = confidential(&app).await;
    let (client_b, secret_b) = confidential(&app).await;
    let (verifier, challenge) = pkce();
    let code = code_for(
        &app,
        &client_a,
        &challenge,
        "openid offline_access",
        session["accessToken"].as_str().unwrap(),
    )
    .await;
    let tokens: Value = exchange(&app, &code, &verifier, (&client_a, &secret_a))
        .await
        .json()
        .await
        .unwrap();
    // Someone who saw the spent code (a log, a browser's history) presents it as another app.
    let stranger = exchange(&app, &code, &verifier, (&client_b, &secret_b)).await;
    oauth_error(stranger, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // That is no reason to end the grant of the app the code was for.
    let refreshed = refresh(
        &app,
        tokens["refresh_token"].as_str().unwrap(),
        (&client_a, &secret_a),
    )
    .await;
    assert_eq!(refreshed.status(), StatusCode::OK);
}

async fn a_code_is_bound_to_its_verifier_client_and_redirect_uri(backend: Backend) {
    let app = provider(backend, &[]).await;
    let session = app.sign_up(&unique_email()).await;
    let access = session["accessToken"].as_str().unwrap();
    let (client_a, secret_a) = confidential(&app).await;
    let (client_b, secret_b) = confidential(&app).await;

    // A wrong verifier: refused, and the code is spent (the right verifier is too late).
    let (verifier, challenge) = pkce();
    let code = code_for(&app, &client_a, &challenge, "openid", access).await;
    let (wrong, _) = pkce();
    let response = exchange(&app, &code, &wrong, (&client_a, &secret_a)).await;
    oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let response = exchange(&app, &code, &verifier, (&client_a, &secret_a)).await;
    oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;

    // No verifier at all.
    let (_, challenge) = pkce();
    let code = code_for(&app, &client_a, &challenge, "openid", access).await;
    let response = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
        Some((&client_a, &secret_a)),
    )
    .await;
    oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;

    // Another client, with its own valid credentials.
    let (verifier, challenge) = pkce();
    let code = code_for(&app, &client_a, &challenge, "openid", access).await;
    let response = exchange(&app, &code, &verifier, (&client_b, &secret_b)).await;
    oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;

    // Another redirect URI.
    let (verifier, challenge) = pkce();
    let code = code_for(&app, &client_a, &challenge, "openid", access).await;
    let response = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://localhost:9999/other"),
            ("code_verifier", &verifier),
        ],
        Some((&client_a, &secret_a)),
    )
    .await;
    oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

async fn an_expired_code_is_refused(backend: Backend) {
    let app = provider(backend, &[]).await;
    let session = app.sign_up(&unique_email()).await;
    let (client_id, secret) = confidential(&app).await;
    let (verifier, challenge) = pkce();
    let code = code_for(
        &app,
        &client_id,
        &challenge,
        "openid",
        session["accessToken"].as_str().unwrap(),
    )
    .await;
    app.clock.advance(Duration::from_secs(61));
    let response = exchange(&app, &code, &verifier, (&client_id, &secret)).await;
    oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

async fn client_authentication_is_required_and_checked(backend: Backend) {
    let app = provider(backend, &[]).await;
    let session = app.sign_up(&unique_email()).await;
    let access = session["accessToken"].as_str().unwrap();
    let (client_id, secret) = confidential(&app).await;
    let (verifier, challenge) = pkce();
    let code = code_for(&app, &client_id, &challenge, "openid", access).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    // A wrong secret (Basic), no secret at all, a wrong secret by post.
    let wrong = token(&app, &form, Some((&client_id, "not-the-secret"))).await;
    assert_eq!(
        wrong.headers()[header::WWW_AUTHENTICATE],
        "Basic realm=\"tessera\""
    );
    oauth_error(wrong, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let mut without = form.to_vec();
    without.push(("client_id", &client_id));
    let none = token(&app, &without, None).await;
    oauth_error(none, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let mut posted = without.clone();
    posted.push(("client_secret", "not-the-secret"));
    let post = token(&app, &posted, None).await;
    oauth_error(post, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let failures: Value = app
        .client
        .get(app.url("/admin/events?kind=oauth2-client-auth-failed"))
        .header("x-tessera-admin-secret", ADMIN_SECRET)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let failures = failures["events"].as_array().unwrap();
    assert_eq!(failures.len(), 3, "{failures:?}");
    assert!(
        failures
            .iter()
            .all(|e| e["detail"]["clientId"] == client_id.as_str())
    );
    assert!(!format!("{failures:?}").contains("not-the-secret"));
    // None of those spent the code: the right secret, by post, still gets the tokens.
    let mut right = without.clone();
    right.push(("client_secret", &secret));
    assert_eq!(token(&app, &right, None).await.status(), StatusCode::OK);
}

async fn a_public_client_must_use_pkce_s256(backend: Backend) {
    let app = provider(backend, &[]).await;
    let session = app.sign_up(&unique_email()).await;
    let client = register(
        &app,
        json!({ "name": "CLI", "redirectUris": [REDIRECT], "public": true }),
    )
    .await;
    assert!(client.get("clientSecret").is_none());
    let client_id = client["clientId"].as_str().unwrap();
    let (verifier, challenge) = pkce();
    for (drop, method) in [
        ("code_challenge", None),
        ("code_challenge_method", Some("plain")),
    ] {
        let mut query = params(client_id, &challenge, "openid");
        query.retain(|(k, _)| *k != drop);
        if let Some(method) = method {
            query.push(("code_challenge_method", method));
        }
        let response = authorize(&app, &query).await;
        assert_eq!(response.status(), StatusCode::FOUND);
        let back = query_of(response.headers()[header::LOCATION].to_str().unwrap());
        assert_eq!(back["error"], "invalid_request");
        assert_eq!(back["state"], "st-123");
        assert!(back["error_description"].contains("S256"));
    }
    // With PKCE, the public client gets tokens by its client_id alone.
    let code = code_for(
        &app,
        client_id,
        &challenge,
        "openid",
        session["accessToken"].as_str().unwrap(),
    )
    .await;
    let response = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
            ("client_id", client_id),
        ],
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

async fn the_implicit_flow_and_unallowed_scopes_go_back_as_errors(backend: Backend) {
    let app = provider(backend, &[]).await;
    let client = register(
        &app,
        json!({ "name": "Narrow", "redirectUris": [REDIRECT], "scopes": ["openid"] }),
    )
    .await;
    let client_id = client["clientId"].as_str().unwrap();
    let (_, challenge) = pkce();
    let mut implicit = params(client_id, &challenge, "openid");
    implicit.retain(|(k, _)| *k != "response_type");
    implicit.push(("response_type", "token"));
    let response = authorize(&app, &implicit).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let back = query_of(response.headers()[header::LOCATION].to_str().unwrap());
    assert_eq!(back["error"], "unsupported_response_type");
    assert_eq!(back["state"], "st-123");
    assert_eq!(back["iss"], app.state.config.tokens.issuer);
    assert!(!back.contains_key("access_token"));

    let response = authorize(&app, &params(client_id, &challenge, "openid email")).await;
    let back = query_of(response.headers()[header::LOCATION].to_str().unwrap());
    assert_eq!(back["error"], "invalid_scope");

    // A state too long to keep is refused, and goes back whole (never cut short).
    let long_state = "s".repeat(1025);
    let mut long = params(client_id, &challenge, "openid");
    long.retain(|(k, _)| *k != "state");
    long.push(("state", &long_state));
    let response = authorize(&app, &long).await;
    let back = query_of(response.headers()[header::LOCATION].to_str().unwrap());
    assert_eq!(back["error"], "invalid_request");
    assert_eq!(back["state"], long_state);

    // Other grant types do not exist.
    let password = token(
        &app,
        &[
            ("grant_type", "password"),
            ("username", "a@example.com"),
            ("password", PASSWORD),
            ("client_id", client_id),
        ],
        None,
    )
    .await;
    oauth_error(password, StatusCode::BAD_REQUEST, "unsupported_grant_type").await;
}

async fn a_revoked_grants_refresh_token_is_refused(backend: Backend) {
    let app = provider(backend, &[]).await;
    // Withdrawn by the user.
    let (session, client, tokens) = granted(&app).await;
    let bearer = session["accessToken"].as_str().unwrap();
    let apps: Value = app
        .client
        .get(app.url("/user/oauth2/apps"))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(apps["apps"][0]["clientId"], client.0.as_str());
    assert_eq!(apps["apps"][0]["name"], "Dashboard");
    assert_eq!(apps["apps"][0]["activeGrants"], 1);
    let withdrawn = app
        .client
        .delete(app.url(&format!("/user/oauth2/apps/{}", client.0)))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(withdrawn.status(), StatusCode::OK);
    let response = refresh(
        &app,
        tokens["refresh_token"].as_str().unwrap(),
        (&client.0, &client.1),
    )
    .await;
    oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let apps: Value = app
        .client
        .get(app.url("/user/oauth2/apps"))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(apps["apps"], json!([]));

    // Revoked by the app itself (RFC 7009).
    let (_, client, tokens) = granted(&app).await;
    let revoked = app
        .client
        .post(app.url("/oauth2/revoke"))
        .basic_auth(&client.0, Some(&client.1))
        .form(&[("token", tokens["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let response = refresh(
        &app,
        tokens["refresh_token"].as_str().unwrap(),
        (&client.0, &client.1),
    )
    .await;
    oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(
        userinfo(&app, tokens["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // Withdrawn by an administrator.
    let (session, client, tokens) = granted(&app).await;
    let user = session["user"]["id"].as_str().unwrap();
    let by_admin = app
        .client
        .delete(app.url(&format!("/admin/users/{user}/oauth2/apps/{}", client.0)))
        .header("x-tessera-admin-secret", ADMIN_SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(by_admin.status(), StatusCode::OK);
    let response = refresh(
        &app,
        tokens["refresh_token"].as_str().unwrap(),
        (&client.0, &client.1),
    )
    .await;
    oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;

    // Ended with the user's other sessions by a password change.
    let (session, client, tokens) = granted(&app).await;
    let changed = app
        .client
        .post(app.url("/user/password"))
        .bearer_auth(session["accessToken"].as_str().unwrap())
        .json(&json!({ "newPassword": "another-Horse-battery-7" }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    let response = refresh(
        &app,
        tokens["refresh_token"].as_str().unwrap(),
        (&client.0, &client.1),
    )
    .await;
    oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

async fn a_replaced_refresh_token_presented_again_ends_the_grant(backend: Backend) {
    let app = provider(backend, &[]).await;
    let (_, client, tokens) = granted(&app).await;
    let first = tokens["refresh_token"].as_str().unwrap();
    let client = (client.0.as_str(), client.1.as_str());
    // Another client presenting it changes nothing.
    let (other, other_secret) = confidential(&app).await;
    let stolen = refresh(&app, first, (&other, &other_secret)).await;
    oauth_error(stolen, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let second: Value = refresh(&app, first, client).await.json().await.unwrap();
    let second = second["refresh_token"].as_str().unwrap().to_owned();
    let reused = refresh(&app, first, client).await;
    oauth_error(reused, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let after = refresh(&app, &second, client).await;
    oauth_error(after, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

async fn introspection_tells_a_client_about_its_own_tokens_only(backend: Backend) {
    let app = provider(backend, &[]).await;
    let (_, client, tokens) = granted(&app).await;
    let (other, other_secret) = confidential(&app).await;
    let introspect = |id: String, secret: String, token: String| {
        let app = &app;
        async move {
            let response = app
                .client
                .post(app.url("/oauth2/introspect"))
                .basic_auth(id, Some(secret))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()
        }
    };
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let own = introspect(client.0.clone(), client.1.clone(), access.clone()).await;
    assert_eq!(own["active"], true);
    assert_eq!(own["client_id"], client.0.as_str());
    assert_eq!(own["token_type"], "Bearer");
    assert_eq!(own["scope"], "openid profile email offline_access");
    let own_refresh = introspect(client.0.clone(), client.1.clone(), refresh_token).await;
    assert_eq!(own_refresh["active"], true);
    assert_eq!(own_refresh["token_type"], "refresh_token");
    let foreign = introspect(other.clone(), other_secret.clone(), access.clone()).await;
    assert_eq!(foreign, json!({ "active": false }));
    let junk = introspect(client.0.clone(), client.1.clone(), "junk".into()).await;
    assert_eq!(junk, json!({ "active": false }));
    // A public client may not introspect.
    let public = register(
        &app,
        json!({ "name": "SPA", "redirectUris": [REDIRECT], "public": true }),
    )
    .await;
    let response = app
        .client
        .post(app.url("/oauth2/introspect"))
        .form(&[
            ("token", access.as_str()),
            ("client_id", public["clientId"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

async fn discovery_lists_the_provider_only_when_it_is_on(backend: Backend) {
    let app = provider(backend, &[]).await;
    let doc: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    let base = app
        .state
        .config
        .server
        .public_url
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{base}/oauth2/authorize")
    );
    assert_eq!(doc["token_endpoint"], format!("{base}/oauth2/token"));
    assert_eq!(doc["end_session_endpoint"], format!("{base}/oauth2/logout"));
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert!(doc.get("registration_endpoint").is_none());
    let metadata: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(metadata, doc);
    let jwks: Value = app.get("/oauth2/jwks").await.json().await.unwrap();
    let wellknown: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(jwks, wellknown);

    let off = TestApp::spawn(backend).await;
    let doc: Value = off
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert!(doc.get("authorization_endpoint").is_none());
    assert_eq!(
        off.get("/oauth2/authorize").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        off.get("/.well-known/oauth-authorization-server")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

async fn rp_initiated_logout_ends_the_grant(backend: Backend) {
    let app = provider(backend, &[]).await;
    let (_, client, tokens) = granted(&app).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    // Not registered: a page, no redirect, nothing ended.
    let url = url::Url::parse_with_params(
        &app.url("/oauth2/logout"),
        &[
            ("id_token_hint", id_token),
            ("post_logout_redirect_uri", "https://evil.example.com/"),
        ],
    )
    .unwrap();
    let response = app.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get(header::LOCATION).is_none());

    let url = url::Url::parse_with_params(
        &app.url("/oauth2/logout"),
        &[
            ("id_token_hint", id_token),
            ("post_logout_redirect_uri", LOGOUT_REDIRECT),
            ("state", "bye"),
        ],
    )
    .unwrap();
    let response = app.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        response.headers()[header::LOCATION],
        format!("{LOGOUT_REDIRECT}?state=bye")
    );
    let response = refresh(
        &app,
        tokens["refresh_token"].as_str().unwrap(),
        (&client.0, &client.1),
    )
    .await;
    oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

async fn dynamic_registration_needs_the_initial_access_token(backend: Backend) {
    let off = provider(backend, &[]).await;
    let body = json!({ "redirect_uris": [REDIRECT], "client_name": "Partner tool" });
    let response = off.post_json("/oauth2/register", &body).await;
    oauth_error(response, StatusCode::FORBIDDEN, "access_denied").await;

    let token = "an-initial-access-token-of-some-length-0123456789";
    let app = provider(backend, &[("TESSERA_OAUTH2_REGISTRATION_TOKEN", token)]).await;
    let doc: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert!(doc["registration_endpoint"].is_string());
    let wrong = app
        .client
        .post(app.url("/oauth2/register"))
        .bearer_auth("wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    oauth_error(wrong, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let created = app
        .client
        .post(app.url("/oauth2/register"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");
    let (client_id, secret) = (
        created["client_id"].as_str().unwrap(),
        created["client_secret"].as_str().unwrap(),
    );
    // The registered client works, and its users are asked for consent (never first-party).
    let shown = app
        .client
        .get(app.url(&format!("/oauth2/clients/{client_id}")))
        .header("x-tessera-admin-secret", ADMIN_SECRET)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(shown["dynamic"], true);
    assert_eq!(shown["firstParty"], false);
    assert!(shown.get("clientSecret").is_none());
    let session = app.sign_up(&unique_email()).await;
    let (verifier, challenge) = pkce();
    let code = code_for(
        &app,
        client_id,
        &challenge,
        "openid",
        session["accessToken"].as_str().unwrap(),
    )
    .await;
    let response = exchange(&app, &code, &verifier, (client_id, secret)).await;
    assert_eq!(response.status(), StatusCode::OK);
}

async fn deleting_a_client_ends_its_grants(backend: Backend) {
    let app = provider(backend, &[]).await;
    let (_, client, tokens) = granted(&app).await;
    let deleted = app
        .client
        .delete(app.url(&format!("/oauth2/clients/{}", client.0)))
        .header("x-tessera-admin-secret", ADMIN_SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    assert_eq!(
        userinfo(&app, tokens["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let response = refresh(
        &app,
        tokens["refresh_token"].as_str().unwrap(),
        (&client.0, &client.1),
    )
    .await;
    oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let missing = app
        .client
        .get(app.url(&format!("/oauth2/clients/{}", client.0)))
        .header("x-tessera-admin-secret", ADMIN_SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    // A name that would read as another app's on the consent page is refused.
    let spoof = app
        .client
        .post(app.url("/oauth2/clients"))
        .header("x-tessera-admin-secret", ADMIN_SECRET)
        .json(&json!({ "name": "Evil\u{202E}droc", "redirectUris": [REDIRECT] }))
        .send()
        .await
        .unwrap();
    oauth_error(spoof, StatusCode::BAD_REQUEST, "invalid_request").await;
    // Without the admin secret, nothing.
    let anonymous = app.get("/oauth2/clients").await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

async fn the_token_endpoint_is_rate_limited_per_address(backend: Backend) {
    let app = provider(backend, &[("TESSERA_RATE_LIMIT_REFRESH", "3/1m")]).await;
    let (client_id, _) = confidential(&app).await;
    let guess = [
        ("grant_type", "authorization_code"),
        ("code", "guessed-code"),
        ("redirect_uri", REDIRECT),
        (
            "code_verifier",
            "a-verifier-that-is-long-enough-to-be-well-formed-0123",
        ),
    ];
    for _ in 0..3 {
        let response = token(&app, &guess, Some((&client_id, "guessed-secret"))).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let limited = token(&app, &guess, Some((&client_id, "guessed-secret"))).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().contains_key(header::RETRY_AFTER));
    // Revocation and introspection share the budget.
    let revoke = app
        .client
        .post(app.url("/oauth2/revoke"))
        .form(&[("token", "x"), ("client_id", client_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// A browser-only app (a public client on an origin Tessera does not list) can use the
/// provider from the page: discovery, the keys, the token endpoint and userinfo answer any
/// origin, without credentials; everything else keeps Tessera's credentialed CORS for the
/// allowed origins only.
async fn a_browser_app_on_any_origin_can_use_the_protocol_endpoints(backend: Backend) {
    let app = provider(backend, &[]).await;
    let spa = "https://spa.example.net";
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/oauth2/token"))
        .header(header::ORIGIN, spa)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let headers = preflight.headers();
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert!(
        headers[header::ACCESS_CONTROL_ALLOW_METHODS]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert!(
        headers
            .get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
            .is_none()
    );

    // The whole public-client flow's calls from that origin.
    let session = app.sign_up(&unique_email()).await;
    let client = register(
        &app,
        json!({ "name": "SPA", "redirectUris": [REDIRECT], "public": true }),
    )
    .await;
    let client_id = client["clientId"].as_str().unwrap();
    let discovery = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .header(header::ORIGIN, spa)
        .send()
        .await
        .unwrap();
    assert_eq!(
        discovery.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "*"
    );
    let (verifier, challenge) = pkce();
    let code = code_for(
        &app,
        client_id,
        &challenge,
        "openid",
        session["accessToken"].as_str().unwrap(),
    )
    .await;
    let tokens = app
        .client
        .post(app.url("/oauth2/token"))
        .header(header::ORIGIN, spa)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
            ("client_id", client_id),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(tokens.status(), StatusCode::OK);
    assert_eq!(tokens.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert!(
        tokens
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
            .is_none()
    );
    let tokens: Value = tokens.json().await.unwrap();
    let info = app
        .client
        .get(app.url("/oauth2/userinfo"))
        .header(header::ORIGIN, spa)
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), StatusCode::OK);
    assert_eq!(info.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");

    // Routes that a session's cookies could reach stay closed to that origin.
    for path in ["/user", "/user/oauth2/apps", "/oauth2/login?request_id=x"] {
        let response = app
            .client
            .get(app.url(path))
            .header(header::ORIGIN, spa)
            .send()
            .await
            .unwrap();
        assert!(
            response
                .headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_none(),
            "{path}"
        );
    }
}

both_backends!(
    a_browser_app_on_any_origin_can_use_the_protocol_endpoints,
    the_token_endpoint_is_rate_limited_per_address,
    the_code_flow_gives_an_app_its_own_tokens,
    an_unregistered_redirect_uri_gets_a_page_never_a_redirect,
    a_reused_code_is_refused_and_revokes_what_it_gave,
    a_spent_code_from_another_client_revokes_nothing,
    a_code_is_bound_to_its_verifier_client_and_redirect_uri,
    an_expired_code_is_refused,
    client_authentication_is_required_and_checked,
    a_public_client_must_use_pkce_s256,
    the_implicit_flow_and_unallowed_scopes_go_back_as_errors,
    a_revoked_grants_refresh_token_is_refused,
    a_replaced_refresh_token_presented_again_ends_the_grant,
    introspection_tells_a_client_about_its_own_tokens_only,
    discovery_lists_the_provider_only_when_it_is_on,
    rp_initiated_logout_ends_the_grant,
    dynamic_registration_needs_the_initial_access_token,
    deleting_a_client_ends_its_grants,
);
