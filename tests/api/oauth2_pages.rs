//! The login and consent pages Tessera ships for its OAuth provider (`/oauth2/ui`), driven
//! as a browser without JavaScript would: plain GETs and form posts, cookies kept by hand
//! (each test's "browser" is a jar), redirects read, not followed. The whole flow ends
//! with the code exchanged at `/oauth2/token`. The refusals: a post without the browser
//! cookie, from another browser or from a foreign origin; a wrong password; a password
//! without the TOTP code of a user who has it on.
//!
//! Then the same flow in Debian's headless Chromium with JavaScript off
//! (tests/e2e/oauth2.test.mjs): the user types into the labelled fields and clicks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::header::{CONTENT_SECURITY_POLICY, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use url::Url;
use uuid::Uuid;

use crate::both_backends;
use crate::helpers::{Backend, PASSWORD, TestApp, free_port, npm_ci, unique_email};
use crate::lifecycle::{CHALLENGE, VERIFIER, query};
use crate::mfa::{code_now, next_code, wrong};

const ADMIN_SECRET: &str = "oauth2-pages-test-admin-secret-0123456789";
const REDIRECT: &str = "https://app.example.com/callback";
/// The browser-binding cookie: Secure in these tests (the default), so `__Host-`.
const BROWSER_COOKIE: &str = "__Host-tessera-oauth2-browser";
const CHROMIUM: &str = "/usr/bin/chromium";

async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(
        backend,
        &[
            ("TESSERA_OAUTH2_PROVIDER", "true"),
            ("TESSERA_ADMIN_SECRET", ADMIN_SECRET),
        ],
    )
    .await
}

/// The name of the apps the tests register: markup in it must come out escaped.
const APP_NAME: &str = "Report <Viewer>";

/// A client registered by the administrator: (client id, secret).
async fn register(
    app: &TestApp,
    name: &str,
    redirect: &str,
    first_party: bool,
) -> (String, String) {
    let response = app
        .client
        .post(app.url("/oauth2/clients"))
        .header("x-tessera-admin-secret", ADMIN_SECRET)
        .json(&json!({
            "name": name,
            "redirectUris": [redirect],
            "scopes": ["openid", "profile", "email", "offline_access"],
            "firstParty": first_party,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    (
        body["clientId"].as_str().unwrap().to_owned(),
        body["clientSecret"].as_str().unwrap().to_owned(),
    )
}

/// A signed-up user: (email, id).
async fn user(app: &TestApp) -> (String, String) {
    let email = unique_email();
    let session = app.sign_up(&email).await;
    (email, session["user"]["id"].as_str().unwrap().to_owned())
}

/// A browser without JavaScript: a cookie jar (names only: every cookie here is Tessera's)
/// and the `Origin` its forms carry.
struct Browser<'a> {
    app: &'a TestApp,
    jar: HashMap<String, String>,
    origin: String,
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            jar: HashMap::new(),
            origin: app.state.config.server.public_origin(),
        }
    }

    fn cookie_header(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, response: &Response) {
        for value in response.headers().get_all(SET_COOKIE) {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || text.contains("Max-Age=0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    /// GET a path (or an absolute URL of Tessera, whose host may be its public one).
    async fn get(&mut self, target: &str) -> Response {
        let path = match Url::parse(target) {
            Ok(url) => format!("{}?{}", url.path(), url.query().unwrap_or_default()),
            Err(_) => target.to_owned(),
        };
        let response = self
            .app
            .client
            .get(self.app.url(&path))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&response);
        response
    }

    /// A form post, as the page's own form sends it.
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Response {
        let origin = self.origin.clone();
        self.post_from(&origin, path, fields).await
    }

    async fn post_from(&mut self, origin: &str, path: &str, fields: &[(&str, &str)]) -> Response {
        let response = self
            .app
            .client
            .post(self.app.url(path))
            .header(ORIGIN, origin)
            .header(COOKIE, self.cookie_header())
            .form(fields)
            .send()
            .await
            .unwrap();
        self.keep(&response);
        response
    }

    /// The app sends the browser to `/oauth2/authorize`: the request id of the login page
    /// it lands on.
    async fn authorize(&mut self, client_id: &str, redirect: &str, state: &str) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect)
            .append_pair("scope", "openid profile email offline_access")
            .append_pair("state", state)
            .append_pair("nonce", "n-0S6_WzA2Mj")
            .append_pair("code_challenge", CHALLENGE)
            .append_pair("code_challenge_method", "S256")
            .finish();
        let response = self.get(&format!("/oauth2/authorize?{query}")).await;
        assert_eq!(response.status(), StatusCode::FOUND);
        assert!(self.jar.contains_key(BROWSER_COOKIE), "the browser cookie");
        let location = Url::parse(response.headers()[LOCATION].to_str().unwrap()).unwrap();
        assert_eq!(location.path(), "/oauth2/ui");
        query_of(&location, "request_id")
    }

    fn has_session(&self) -> bool {
        self.jar.keys().any(|name| name.ends_with("tessera-token"))
    }
}

fn query_of(url: &Url, name: &str) -> String {
    query(url, name).unwrap_or_else(|| panic!("{name} in {url}"))
}

/// The `Location` of a redirect back to the app.
fn back_to_app(response: &Response, status: StatusCode) -> Url {
    assert_eq!(response.status(), status);
    let location = Url::parse(response.headers()[LOCATION].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(REDIRECT), "{location}");
    location
}

/// A page's body, after checking what every page carries.
async fn page(response: Response, status: StatusCode) -> String {
    assert_eq!(response.status(), status);
    let headers = response.headers().clone();
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = headers[CONTENT_SECURITY_POLICY].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    let body = response.text().await.unwrap();
    assert!(body.starts_with("<!doctype html>\n<html lang=\"en\">"));
    assert!(!body.to_lowercase().contains("<script"), "no JavaScript");
    body
}

/// Whether the request got a code (was approved): read from the database.
async fn approved(app: &TestApp, request_id: &str) -> bool {
    let id: Uuid = request_id.parse().unwrap();
    app.scalar(
        "SELECT COUNT(*) FROM oauth2_requests WHERE id = $1 AND code_hash IS NOT NULL",
        id,
    )
    .await
        == 1
}

/// `POST /oauth2/token` with the code: the tokens.
async fn exchange(app: &TestApp, client: &(String, String), code: &str) -> Value {
    let response = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth(&client.0, Some(&client.1))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn id_token_claims(tokens: &Value) -> Value {
    jsonwebtoken::dangerous::insecure_decode::<Value>(tokens["id_token"].as_str().unwrap())
        .unwrap()
        .claims
}

async fn the_whole_flow_works_with_forms_alone(backend: Backend) {
    let app = spawn(backend).await;
    let client = register(&app, APP_NAME, REDIRECT, false).await;
    let (email, user_id) = user(&app).await;
    let mut browser = Browser::new(&app);
    let request_id = browser.authorize(&client.0, REDIRECT, "st<&>1").await;

    let html = page(
        browser
            .get(&format!("/oauth2/ui?request_id={request_id}"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(html.contains("<form method=\"post\" action=\"/oauth2/ui/signin\">"));
    assert!(html.contains(&format!(
        "<input type=\"hidden\" name=\"request_id\" value=\"{request_id}\">"
    )));
    assert!(html.contains("<label for=\"email\">") && html.contains("<label for=\"password\">"));
    assert!(html.contains("autocomplete=\"username\""));
    assert!(html.contains("autocomplete=\"current-password\""));
    assert!(html.contains("<button type=\"submit\">Sign in</button>"));
    assert!(
        html.contains("Report &lt;Viewer&gt;") && !html.contains("Report <Viewer>"),
        "the app's name, escaped"
    );
    assert!(html.contains("See your email address"), "what it asks for");

    let response = browser
        .post(
            "/oauth2/ui/signin",
            &[
                ("request_id", &request_id),
                ("email", &email),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert!(browser.has_session(), "the session cookies are set");
    let html = page(response, StatusCode::OK).await;
    assert!(
        html.contains("<h1>Allow Report &lt;Viewer&gt;?</h1>"),
        "{html}"
    );
    for words in [
        "Know who you are",
        "See your name and picture",
        "See your email address",
        "Stay signed in when you are away",
    ] {
        assert!(html.contains(words), "{words}");
    }
    assert!(html.contains("name=\"decision\" value=\"allow\""));
    assert!(!approved(&app, &request_id).await, "no code before Allow");

    let response = browser
        .post(
            "/oauth2/ui/consent",
            &[("request_id", &request_id), ("decision", "allow")],
        )
        .await;
    let location = back_to_app(&response, StatusCode::SEE_OTHER);
    assert_eq!(query_of(&location, "state"), "st<&>1");
    assert_eq!(query_of(&location, "iss"), app.state.config.tokens.issuer);
    let tokens = exchange(&app, &client, &query_of(&location, "code")).await;
    let claims = id_token_claims(&tokens);
    assert_eq!(claims["sub"], user_id.as_str());
    assert_eq!(claims["aud"], client.0.as_str());
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert!(tokens["refresh_token"].is_string(), "offline_access");

    // The page of an answered request says to start again; the consent is remembered, so
    // the next request of this signed-in browser goes straight back to the app.
    let response = browser
        .get(&format!("/oauth2/ui?request_id={request_id}"))
        .await;
    assert!(
        page(response, StatusCode::BAD_REQUEST)
            .await
            .to_lowercase()
            .contains("start again from the app")
    );
    let request_id = browser.authorize(&client.0, REDIRECT, "second").await;
    let response = browser
        .get(&format!("/oauth2/ui?request_id={request_id}"))
        .await;
    let location = back_to_app(&response, StatusCode::FOUND);
    assert_eq!(query_of(&location, "state"), "second");
    exchange(&app, &client, &query_of(&location, "code")).await;
}

async fn a_first_party_app_asks_no_consent_and_deny_goes_back(backend: Backend) {
    let app = spawn(backend).await;
    let first_party = register(&app, APP_NAME, REDIRECT, true).await;
    let third_party = register(&app, APP_NAME, REDIRECT, false).await;
    let (email, _) = user(&app).await;

    let mut browser = Browser::new(&app);
    let request_id = browser.authorize(&first_party.0, REDIRECT, "fp").await;
    let response = browser
        .post(
            "/oauth2/ui/signin",
            &[
                ("request_id", &request_id),
                ("email", &email),
                ("password", PASSWORD),
            ],
        )
        .await;
    let location = back_to_app(&response, StatusCode::SEE_OTHER);
    assert_eq!(query_of(&location, "state"), "fp");
    exchange(&app, &first_party, &query_of(&location, "code")).await;

    // Signed in already: the third-party app gets the consent page, and Deny.
    let request_id = browser.authorize(&third_party.0, REDIRECT, "tp").await;
    let response = browser
        .get(&format!("/oauth2/ui?request_id={request_id}"))
        .await;
    assert!(
        page(response, StatusCode::OK)
            .await
            .contains("value=\"deny\"")
    );
    let response = browser
        .post(
            "/oauth2/ui/consent",
            &[("request_id", &request_id), ("decision", "deny")],
        )
        .await;
    let location = back_to_app(&response, StatusCode::SEE_OTHER);
    assert_eq!(query_of(&location, "error"), "access_denied");
    assert_eq!(query_of(&location, "state"), "tp");
    assert_eq!(query(&location, "code"), None);
    assert!(!approved(&app, &request_id).await);

    // Cancel on the sign-in page (no session) declines too.
    let mut stranger = Browser::new(&app);
    let request_id = stranger.authorize(&third_party.0, REDIRECT, "cancel").await;
    let response = stranger
        .post(
            "/oauth2/ui/consent",
            &[("request_id", &request_id), ("decision", "deny")],
        )
        .await;
    let location = back_to_app(&response, StatusCode::SEE_OTHER);
    assert_eq!(query_of(&location, "error"), "access_denied");
}

async fn posts_from_elsewhere_are_refused(backend: Backend) {
    let app = spawn(backend).await;
    let client = register(&app, APP_NAME, REDIRECT, false).await;
    let (email, _) = user(&app).await;
    let mut browser = Browser::new(&app);
    let request_id = browser.authorize(&client.0, REDIRECT, "s").await;
    let credentials = [
        ("request_id", request_id.as_str()),
        ("email", email.as_str()),
        ("password", PASSWORD),
    ];

    // A foreign site's form: refused before the password is looked at.
    let response = browser
        .post_from("https://evil.example", "/oauth2/ui/signin", &credentials)
        .await;
    page(response, StatusCode::FORBIDDEN).await;
    assert!(!browser.has_session());
    // No Origin at all (no browser sends a form post so).
    let response = app
        .client
        .post(app.url("/oauth2/ui/signin"))
        .header(COOKIE, browser.cookie_header())
        .form(&credentials)
        .send()
        .await
        .unwrap();
    page(response, StatusCode::FORBIDDEN).await;

    // Without the browser cookie, or with another browser's: start again.
    let mut cookieless = Browser::new(&app);
    let response = cookieless.post("/oauth2/ui/signin", &credentials).await;
    assert!(
        page(response, StatusCode::BAD_REQUEST)
            .await
            .to_lowercase()
            .contains("start again from the app")
    );
    assert!(!cookieless.has_session());
    let mut other = Browser::new(&app);
    other.authorize(&client.0, REDIRECT, "other").await;
    let response = other.post("/oauth2/ui/signin", &credentials).await;
    page(response, StatusCode::BAD_REQUEST).await;
    let response = other
        .get(&format!("/oauth2/ui?request_id={request_id}"))
        .await;
    page(response, StatusCode::BAD_REQUEST).await;

    // Signed in, the consent is refused from a foreign origin and without the cookie.
    let response = browser.post("/oauth2/ui/signin", &credentials).await;
    page(response, StatusCode::OK).await;
    let allow = [("request_id", request_id.as_str()), ("decision", "allow")];
    let response = browser
        .post_from("https://evil.example", "/oauth2/ui/consent", &allow)
        .await;
    page(response, StatusCode::FORBIDDEN).await;
    let mut session_only = Browser::new(&app);
    session_only.jar = browser.jar.clone();
    session_only.jar.remove(BROWSER_COOKIE);
    let response = session_only.post("/oauth2/ui/consent", &allow).await;
    page(response, StatusCode::BAD_REQUEST).await;
    // The browser cookie alone (no session) cannot allow.
    let mut binding_only = Browser::new(&app);
    binding_only.jar.insert(
        BROWSER_COOKIE.to_owned(),
        browser.jar[BROWSER_COOKIE].clone(),
    );
    let response = binding_only.post("/oauth2/ui/consent", &allow).await;
    assert!(
        page(response, StatusCode::UNAUTHORIZED)
            .await
            .contains("Sign in again")
    );
    assert!(
        !approved(&app, &request_id).await,
        "no refused post made a code"
    );

    // The browser that began it still can.
    let response = browser.post("/oauth2/ui/consent", &allow).await;
    back_to_app(&response, StatusCode::SEE_OTHER);
    assert!(approved(&app, &request_id).await);
}

async fn a_wrong_password_shows_the_form_again(backend: Backend) {
    let app = spawn(backend).await;
    let client = register(&app, APP_NAME, REDIRECT, true).await;
    let (email, _) = user(&app).await;
    let mut browser = Browser::new(&app);
    let request_id = browser.authorize(&client.0, REDIRECT, "s").await;

    let mut alerts = Vec::new();
    for (email, password) in [
        (email.as_str(), "not-the-Password-1"),
        ("nobody-here@example.com", PASSWORD),
    ] {
        let response = browser
            .post(
                "/oauth2/ui/signin",
                &[
                    ("request_id", request_id.as_str()),
                    ("email", email),
                    ("password", password),
                ],
            )
            .await;
        let html = page(response, StatusCode::UNAUTHORIZED).await;
        assert!(
            html.contains("action=\"/oauth2/ui/signin\""),
            "the form again"
        );
        assert!(
            html.contains(&format!("value=\"{email}\"")),
            "the email kept"
        );
        assert!(!html.contains(password), "never the password");
        let alert = html
            .split("role=\"alert\"")
            .nth(1)
            .and_then(|rest| rest.split("</p>").next())
            .expect("an alert")
            .to_owned();
        alerts.push(alert);
    }
    assert_eq!(alerts[0], alerts[1], "an unknown account reads the same");
    assert!(alerts[0].contains("not right"), "{}", alerts[0]);
    assert!(!browser.has_session());
    assert!(!approved(&app, &request_id).await);
}

async fn a_user_with_totp_must_give_the_code(backend: Backend) {
    let app = spawn(backend).await;
    let client = register(&app, APP_NAME, REDIRECT, true).await;
    let email = unique_email();
    let session = app.sign_up(&email).await;
    let token = session["accessToken"].as_str().unwrap();
    let generated: Value = app
        .client
        .get(app.url("/mfa/totp/generate"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = generated["totpSecret"].as_str().unwrap().to_owned();
    let response = app
        .client
        .post(app.url("/user/mfa"))
        .bearer_auth(token)
        .json(&json!({"code": code_now(&app, &secret), "activeMfaType": "totp"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let mut browser = Browser::new(&app);
    let request_id = browser.authorize(&client.0, REDIRECT, "s").await;
    let response = browser
        .post(
            "/oauth2/ui/signin",
            &[
                ("request_id", request_id.as_str()),
                ("email", email.as_str()),
                ("password", PASSWORD),
            ],
        )
        .await;
    let html = page(response, StatusCode::OK).await;
    assert!(html.contains("<label for=\"otp\">"));
    assert!(html.contains("autocomplete=\"one-time-code\""));
    let ticket = html
        .split("name=\"ticket\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the ticket in a hidden field")
        .to_owned();
    assert!(ticket.starts_with("mfaTotp:"));
    assert!(!browser.has_session(), "the password alone signs nobody in");
    assert!(!approved(&app, &request_id).await, "nor approves");

    let code = next_code(&app, &secret);
    let response = browser
        .post(
            "/oauth2/ui/signin",
            &[
                ("request_id", request_id.as_str()),
                ("ticket", ticket.as_str()),
                ("otp", wrong(&code).as_str()),
            ],
        )
        .await;
    let html = page(response, StatusCode::UNAUTHORIZED).await;
    assert!(html.contains("role=\"alert\"") && html.contains("autocomplete=\"one-time-code\""));
    assert!(!browser.has_session());
    assert!(!approved(&app, &request_id).await);
    // A made-up ticket gets nowhere either.
    let response = browser
        .post(
            "/oauth2/ui/signin",
            &[
                ("request_id", request_id.as_str()),
                ("ticket", "mfaTotp:made-up"),
                ("otp", code.as_str()),
            ],
        )
        .await;
    page(response, StatusCode::UNAUTHORIZED).await;
    assert!(!approved(&app, &request_id).await);

    let response = browser
        .post(
            "/oauth2/ui/signin",
            &[
                ("request_id", request_id.as_str()),
                ("ticket", ticket.as_str()),
                ("otp", code.as_str()),
            ],
        )
        .await;
    let location = back_to_app(&response, StatusCode::SEE_OTHER);
    assert!(browser.has_session());
    let tokens = exchange(&app, &client, &query_of(&location, "code")).await;
    let amr = id_token_claims(&tokens)["amr"].clone();
    assert!(
        amr.as_array().unwrap().iter().any(|m| m == "mfa"),
        "the grant says the second factor was proved: {amr}"
    );
}

/// The same flow in headless Chromium with JavaScript off (tests/e2e/oauth2.test.mjs), on
/// one backend: the pages are the same whatever the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_work_in_chromium_without_javascript() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "the browser test needs Debian's chromium (apt-get install chromium); scripts/test installs it"
    );
    let e2e = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    npm_ci(&e2e);
    let app_port = free_port();
    let redirect = format!("http://localhost:{app_port}/callback");
    let port = free_port();
    let tessera_url = format!("http://localhost:{port}");
    let listen = format!("127.0.0.1:{port}");
    let app = TestApp::spawn_realtime_with(
        Backend::Sqlite,
        &[
            ("TESSERA_LISTEN", listen.as_str()),
            ("TESSERA_PUBLIC_URL", tessera_url.as_str()),
            ("TESSERA_OAUTH2_PROVIDER", "true"),
            ("TESSERA_ADMIN_SECRET", ADMIN_SECRET),
        ],
    )
    .await;
    let (client_id, client_secret) = register(&app, "Pages E2E App", &redirect, false).await;
    let (email, user_id) = user(&app).await;
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args(["--test", "--test-reporter=spec", "oauth2.test.mjs"])
            .env("TESSERA_URL", tessera_url)
            .env("APP_PORT", app_port.to_string())
            .env("CHROMIUM", CHROMIUM)
            .env("CLIENT_ID", client_id)
            .env("CLIENT_SECRET", client_secret)
            .env("USER_EMAIL", email)
            .env("USER_ID", user_id)
            .current_dir(e2e)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the OAuth pages browser test failed:\n{report}"
    );
    eprintln!("{report}");
    drop(app);
}

both_backends!(
    the_whole_flow_works_with_forms_alone,
    a_first_party_app_asks_no_consent_and_deny_goes_back,
    posts_from_elsewhere_are_refused,
    a_wrong_password_shows_the_form_again,
    a_user_with_totp_must_give_the_code
);
