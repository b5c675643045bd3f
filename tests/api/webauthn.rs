//! Passkeys (WebAuthn) over HTTP, end to end, with a real software authenticator:
//! webauthn-authenticator-rs's `SoftPasskey` makes P-256 keys, signs the client data of the
//! origin it is given and keeps a signature counter, as a security key in a browser would.
//! The server answers the bare `publicKey` options; the tests hand them to the authenticator
//! and send what it makes as the browser's `PublicKeyCredential.toJSON()` would.
//!
//! `SoftPasskey` keeps no resident keys (it sends no `userHandle`), so these tests sign in
//! with an email address; the discoverable sign-in is covered by the Chromium tests.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tessera::support::clock::Clock;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, RequestChallengeResponse, Url, WebauthnAuthenticator,
};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use crate::both_backends;
use crate::helpers::{Backend, PASSWORD, TestApp, assert_error, audit_session, unique_email};
use crate::lifecycle::{NEW_PASSWORD, follow, post, sign_in};
use crate::mfa::{enable, next_code, second_step, session_of, signed_up, ticket};
use crate::smtp_sink::{SmtpSink, link};

/// The web app's origin: the only one the servers of these tests accept for passkeys.
const ORIGIN: &str = "http://localhost:3000";
const ADMIN_SECRET: &str = "an-admin-secret-of-at-least-32-characters";
/// The default `TESSERA_RECENT_AUTH_WINDOW`, and a little more.
const PAST_RECENT_WINDOW: Duration = Duration::from_secs(11 * 60);
/// The default `TESSERA_WEBAUTHN_TIMEOUT`.
const CEREMONY_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The variables every server of these tests starts with (on top of lifecycle's: the public
/// URL `http://localhost:4000/auth`, so routes are under `/auth`, and an SMTP sink).
const WEBAUTHN_VARS: [(&str, &str); 3] = [
    ("TESSERA_WEBAUTHN_RP_ID", "localhost"),
    ("TESSERA_WEBAUTHN_ORIGINS", ORIGIN),
    ("TESSERA_ADMIN_SECRET", ADMIN_SECRET),
];

async fn spawn(backend: Backend, extra: &[(&str, &str)]) -> (SmtpSink, TestApp) {
    let sink = SmtpSink::start().await;
    let mut vars = WEBAUTHN_VARS.to_vec();
    vars.extend_from_slice(extra);
    let app = crate::lifecycle::spawn(backend, &sink, &vars).await;
    (sink, app)
}

/// A security key on the user's desk: a `SoftPasskey` that performs user verification,
/// used from a browser page of `origin`.
struct Authenticator {
    key: SoftPasskey,
    origin: Url,
}

impl Authenticator {
    fn new() -> Self {
        Self::at(ORIGIN)
    }

    /// The same kind of key, used from a page of another origin (a phishing site).
    fn at(origin: &str) -> Self {
        Self {
            key: SoftPasskey::new(true),
            origin: Url::parse(origin).unwrap(),
        }
    }

    /// `navigator.credentials.create({publicKey: options})`, as `toJSON()`.
    fn register(&mut self, options: &Value) -> Value {
        let options: CreationChallengeResponse =
            serde_json::from_value(json!({ "publicKey": options }))
                .unwrap_or_else(|e| panic!("creation options the browser accepts: {e}: {options}"));
        let credential = self
            .key
            .do_registration(self.origin.clone(), options)
            .unwrap_or_else(|e| panic!("the authenticator registers: {e:?}"));
        let mut json = serde_json::to_value(credential).unwrap();
        to_browser_json(&mut json);
        // The browser reports how the authenticator is connected (a USB key here).
        json["response"]["transports"] = json!(["usb"]);
        json
    }

    /// `navigator.credentials.get({publicKey: options})`, as `toJSON()`, from this key's
    /// page.
    fn sign(&mut self, options: &Value) -> Value {
        let options: RequestChallengeResponse =
            serde_json::from_value(json!({ "publicKey": options }))
                .unwrap_or_else(|e| panic!("request options the browser accepts: {e}: {options}"));
        let credential = self
            .key
            .do_authentication(self.origin.clone(), options)
            .unwrap_or_else(|e| panic!("the authenticator signs: {e:?}"));
        let mut json = serde_json::to_value(credential).unwrap();
        to_browser_json(&mut json);
        json
    }

    /// Signs `options` from another page than its own.
    fn sign_at(&mut self, origin: &str, options: &Value) -> Value {
        let own = std::mem::replace(&mut self.origin, Url::parse(origin).unwrap());
        let credential = self.sign(options);
        self.origin = own;
        credential
    }

    /// Registers from another page than its own.
    fn register_at(&mut self, origin: &str, options: &Value) -> Value {
        let own = std::mem::replace(&mut self.origin, Url::parse(origin).unwrap());
        let credential = self.register(options);
        self.origin = own;
        credential
    }
}

/// webauthn-rs-proto names the client extension results `extensions`; the browser's
/// `toJSON()` names them `clientExtensionResults` and leaves out absent members.
fn to_browser_json(credential: &mut Value) {
    let object = credential.as_object_mut().unwrap();
    let mut extensions = object.remove("extensions").unwrap_or(json!({}));
    extensions
        .as_object_mut()
        .unwrap()
        .retain(|_, value| !value.is_null());
    object.insert("clientExtensionResults".into(), extensions);
    let response = object["response"].as_object_mut().unwrap();
    response.retain(|_, value| !value.is_null());
}

/// The credential id (base64url) of a credential's JSON.
fn credential_id(credential: &Value) -> String {
    credential["rawId"].as_str().unwrap().to_owned()
}

fn token(session: &Value) -> String {
    session["accessToken"].as_str().unwrap().to_owned()
}

fn user_id(session: &Value) -> Uuid {
    session["user"]["id"].as_str().unwrap().parse().unwrap()
}

/// The claims of an access token Tessera accepts (read without verification).
async fn claims_of(app: &TestApp, token: &str) -> Value {
    app.state.sessions.authenticate(token).await.unwrap();
    jsonwebtoken::dangerous::insecure_decode::<Value>(token)
        .unwrap()
        .claims
}

/// The `amr` of an access token, sorted (the contract names the methods, not their order).
async fn amr(app: &TestApp, token: &str) -> Vec<String> {
    let claims = claims_of(app, token).await;
    let mut methods: Vec<String> = serde_json::from_value(claims["amr"].clone())
        .unwrap_or_else(|_| panic!("an amr array: {claims}"));
    methods.sort();
    methods
}

fn sorted(methods: &[&str]) -> Vec<String> {
    let mut methods: Vec<String> = methods.iter().map(|m| (*m).to_owned()).collect();
    methods.sort();
    methods
}

/// A 200 JSON body.
async fn ok_json(response: reqwest::Response, what: &str) -> Value {
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{what}: {body}");
    serde_json::from_str(&body).unwrap()
}

async fn get(app: &TestApp, path: &str, bearer: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap()
}

async fn request(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
    bearer: &str,
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method, app.url(path))
        .bearer_auth(bearer);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn admin(app: &TestApp, method: Method, path: &str) -> reqwest::Response {
    app.client
        .request(method, app.url(path))
        .header("x-tessera-admin-secret", ADMIN_SECRET)
        .send()
        .await
        .unwrap()
}

/// `POST /signup/webauthn`: the creation options.
async fn sign_up_options(app: &TestApp, email: &str) -> Value {
    ok_json(
        post(
            app,
            "/auth/signup/webauthn",
            json!({ "email": email }),
            None,
        )
        .await,
        "sign-up options",
    )
    .await
}

async fn sign_up_verify(app: &TestApp, credential: &Value, nickname: &str) -> reqwest::Response {
    post(
        app,
        "/auth/signup/webauthn/verify",
        json!({ "credential": credential, "nickname": nickname }),
        None,
    )
    .await
}

/// Signs up `email` with a new passkey of `key`; returns (session, credential id).
async fn sign_up(app: &TestApp, key: &mut Authenticator, email: &str) -> (Value, String) {
    let options = sign_up_options(app, email).await;
    let credential = key.register(&options);
    let body = ok_json(sign_up_verify(app, &credential, "Laptop").await, "sign-up").await;
    audit_session(&body["session"]);
    assert!(body["session"]["accessToken"].is_string(), "{body}");
    (body["session"].clone(), credential_id(&credential))
}

/// `POST /signin/webauthn {email}`: the request options.
async fn sign_in_options(app: &TestApp, email: &str) -> Value {
    ok_json(
        post(
            app,
            "/auth/signin/webauthn",
            json!({ "email": email }),
            None,
        )
        .await,
        "sign-in options",
    )
    .await
}

async fn sign_in_verify(app: &TestApp, credential: &Value, email: &str) -> reqwest::Response {
    post(
        app,
        "/auth/signin/webauthn/verify",
        json!({ "credential": credential, "email": email }),
        None,
    )
    .await
}

/// Email, then the passkey of `key`: the answer of the verify.
async fn passkey_sign_in(app: &TestApp, key: &mut Authenticator, email: &str) -> reqwest::Response {
    let options = sign_in_options(app, email).await;
    let credential = key.sign(&options);
    sign_in_verify(app, &credential, email).await
}

/// `POST /user/webauthn/add` with a session's token.
async fn add_options(app: &TestApp, token: &str) -> reqwest::Response {
    post(app, "/auth/user/webauthn/add", json!({}), Some(token)).await
}

async fn add_verify(
    app: &TestApp,
    token: &str,
    credential: &Value,
    nickname: &str,
) -> reqwest::Response {
    post(
        app,
        "/auth/user/webauthn/verify",
        json!({ "credential": credential, "nickname": nickname }),
        Some(token),
    )
    .await
}

/// Adds a passkey of `key` to the session's user; returns (`{id, nickname}`, credential id).
async fn add_passkey(
    app: &TestApp,
    token: &str,
    key: &mut Authenticator,
    nickname: &str,
) -> (Value, String) {
    let options = ok_json(add_options(app, token).await, "add options").await;
    let credential = key.register(&options);
    let added = ok_json(
        add_verify(app, token, &credential, nickname).await,
        "add verify",
    )
    .await;
    assert_eq!(added["nickname"], nickname, "{added}");
    assert!(added["id"].is_string(), "{added}");
    (added, credential_id(&credential))
}

async fn elevate_options(app: &TestApp, token: &str) -> Value {
    ok_json(
        post(app, "/auth/elevate/webauthn", json!({}), Some(token)).await,
        "elevate options",
    )
    .await
}

async fn elevate_verify(app: &TestApp, token: &str, credential: &Value) -> reqwest::Response {
    post(
        app,
        "/auth/elevate/webauthn/verify",
        json!({ "credential": credential }),
        Some(token),
    )
    .await
}

/// The list of a `{passkeys: [...]}` answer (the shape of Tessera's other lists,
/// `{sessions}` and `{pats}`), and nothing else in it.
fn passkey_list(body: &Value) -> Vec<Value> {
    let object = body
        .as_object()
        .unwrap_or_else(|| panic!("{{passkeys: [...]}}: {body}"));
    assert_eq!(object.len(), 1, "{body}");
    body["passkeys"]
        .as_array()
        .unwrap_or_else(|| panic!("{{passkeys: [...]}}: {body}"))
        .clone()
}

/// `GET /user/passkeys`.
async fn passkeys(app: &TestApp, token: &str) -> Vec<Value> {
    passkey_list(&ok_json(get(app, "/auth/user/passkeys", token).await, "passkeys").await)
}

fn nicknames(list: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = list
        .iter()
        .map(|p| p["nickname"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// `GET /admin/users/{id}/passkeys`: the nicknames.
async fn admin_nicknames(app: &TestApp, user: Uuid) -> Vec<String> {
    let body = ok_json(
        admin(
            app,
            Method::GET,
            &format!("/auth/admin/users/{user}/passkeys"),
        )
        .await,
        "admin passkeys",
    )
    .await;
    nicknames(&passkey_list(&body))
}

fn parse_time(value: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(
        value.as_str().unwrap_or_else(|| panic!("a time: {value}")),
        &Rfc3339,
    )
    .unwrap()
}

/// Runs an UPDATE on the test's own database; returns the rows it changed.
async fn execute(app: &TestApp, sql: &'static str, bind: Uuid) -> u64 {
    match app.backend {
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(app.db.url()).await.unwrap();
            let done = sqlx::query(sql).bind(bind).execute(&pool).await.unwrap();
            pool.close().await;
            done.rows_affected()
        }
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(app.db.url()).await.unwrap();
            let sql = sqlx::AssertSqlSafe(sql.replace("$1", "?1"));
            let done = sqlx::query(sql).bind(bind).execute(&pool).await.unwrap();
            pool.close().await;
            done.rows_affected()
        }
    }
}

/// The signature counter the server stored for the user's (one) passkey.
async fn stored_counter(app: &TestApp, user: Uuid) -> i64 {
    app.scalar(
        "SELECT CAST(counter AS BIGINT) FROM webauthn_credentials WHERE user_id = $1",
        user,
    )
    .await
}

/// Replaces what the options allow with one credential id: what a hostile page can do
/// before it hands them to the authenticator.
fn allowing(options: &Value, credential_id: &str) -> Value {
    let mut options = options.clone();
    options["allowCredentials"] = json!([{ "type": "public-key", "id": credential_id }]);
    options
}

// A registration that presents an already registered credential again. An authenticator
// refuses to create a credential the options exclude, but nothing stops a client from
// sending the attested data of an existing credential with a new challenge: with the
// attestation format "none" nothing signs the client data. The CBOR is written by hand (an
// attestation object is a map of three entries).

/// The head of the CBOR item at `at`: (major type, argument, length of the head).
fn cbor_head(bytes: &[u8], at: usize) -> (u8, usize, usize) {
    let (major, info) = (bytes[at] >> 5, bytes[at] & 0x1f);
    let be = |n: usize| {
        bytes[at + 1..at + 1 + n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    match info {
        0..=23 => (major, usize::from(info), 1),
        24 => (major, be(1), 2),
        25 => (major, be(2), 3),
        26 => (major, be(4), 5),
        27 => (major, be(8), 9),
        _ => panic!("no indefinite lengths in an attestation object"),
    }
}

/// Where the CBOR item at `at` ends.
fn cbor_end(bytes: &[u8], at: usize) -> usize {
    let (major, argument, head) = cbor_head(bytes, at);
    let mut end = at + head;
    match major {
        0 | 1 | 7 => end,
        2 | 3 => end + argument,
        4 | 5 => {
            let items = if major == 5 { argument * 2 } else { argument };
            for _ in 0..items {
                end = cbor_end(bytes, end);
            }
            end
        }
        _ => cbor_end(bytes, end),
    }
}

/// The `authData` of an attestation object.
fn auth_data(attestation_object: &[u8]) -> Vec<u8> {
    let (major, entries, head) = cbor_head(attestation_object, 0);
    assert_eq!(major, 5, "an attestation object is a map");
    let mut at = head;
    for _ in 0..entries {
        let (_, key_length, key_head) = cbor_head(attestation_object, at);
        let key = &attestation_object[at + key_head..at + key_head + key_length];
        let value = at + key_head + key_length;
        if key == b"authData" {
            let (major, length, head) = cbor_head(attestation_object, value);
            assert_eq!(major, 2, "authData is a byte string");
            return attestation_object[value + head..value + head + length].to_vec();
        }
        at = cbor_end(attestation_object, value);
    }
    panic!("no authData in the attestation object");
}

fn cbor_string(out: &mut Vec<u8>, major: u8, data: &[u8]) {
    let length = data.len();
    if length < 24 {
        out.push((major << 5) | length as u8);
    } else if length < 256 {
        out.extend([(major << 5) | 24, length as u8]);
    } else {
        out.push((major << 5) | 25);
        out.extend((length as u16).to_be_bytes());
    }
    out.extend_from_slice(data);
}

/// A registration response for `options` that presents the credential `registered` (an
/// earlier registration's JSON) again.
fn same_credential_again(registered: &Value, options: &Value) -> Value {
    let object = URL_SAFE_NO_PAD
        .decode(
            registered["response"]["attestationObject"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let mut none = vec![0xa3];
    cbor_string(&mut none, 3, b"fmt");
    cbor_string(&mut none, 3, b"none");
    cbor_string(&mut none, 3, b"attStmt");
    none.push(0xa0);
    cbor_string(&mut none, 3, b"authData");
    cbor_string(&mut none, 2, &auth_data(&object));
    let client_data = json!({
        "type": "webauthn.create",
        "challenge": options["challenge"],
        "origin": ORIGIN,
        "crossOrigin": false,
    });
    json!({
        "id": registered["id"],
        "rawId": registered["rawId"],
        "type": "public-key",
        "response": {
            "clientDataJSON": URL_SAFE_NO_PAD.encode(client_data.to_string()),
            "attestationObject": URL_SAFE_NO_PAD.encode(none),
            "transports": ["usb"],
        },
        "clientExtensionResults": {},
    })
}

async fn signing_up_with_a_passkey_then_signing_in_with_it(backend: Backend) {
    let (_sink, app) = spawn(backend, &[]).await;
    let email = unique_email();
    let mut key = Authenticator::new();

    let options = sign_up_options(&app, &email).await;
    // What `parseCreationOptionsFromJSON` is given, with what makes it a passkey.
    assert_eq!(options["rp"]["id"], "localhost", "{options}");
    assert_eq!(options["user"]["name"], email, "{options}");
    assert_eq!(
        options["authenticatorSelection"]["userVerification"], "required",
        "{options}"
    );
    assert_eq!(
        options["authenticatorSelection"]["residentKey"], "preferred",
        "{options}"
    );
    assert_eq!(options["timeout"], 300_000, "TESSERA_WEBAUTHN_TIMEOUT");
    let challenge = URL_SAFE_NO_PAD
        .decode(options["challenge"].as_str().unwrap())
        .unwrap();
    assert!(challenge.len() >= 16, "{options}");
    let credential = key.register(&options);
    let body = ok_json(sign_up_verify(&app, &credential, "Laptop").await, "sign-up").await;
    let session = body["session"].clone();
    audit_session(&session);
    let signed_up_at = app.clock.now();

    // A signed-in user with no password.
    let user = ok_json(get(&app, "/auth/user", &token(&session)).await, "user").await;
    assert_eq!(user["email"], email);
    assert_eq!(user["id"], session["user"]["id"]);
    assert_eq!(
        amr(&app, &token(&session)).await,
        sorted(&["hwk", "user", "mfa"])
    );
    let claims = claims_of(&app, &token(&session)).await;
    assert_eq!(claims["auth_time"], signed_up_at.unix_timestamp());
    assert_error(
        sign_in(&app, &email, PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid-email-password",
    )
    .await;
    // The address is taken now, for passkeys too.
    assert_error(
        post(
            &app,
            "/auth/signup/webauthn",
            json!({ "email": email }),
            None,
        )
        .await,
        StatusCode::CONFLICT,
        "email-already-in-use",
    )
    .await;

    let list = passkeys(&app, &token(&session)).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let passkey = &list[0];
    assert_eq!(passkey["nickname"], "Laptop");
    assert!(passkey["id"].is_string(), "{passkey}");
    assert_eq!(parse_time(&passkey["createdAt"]), signed_up_at);
    assert_eq!(
        passkey["backupEligible"], false,
        "a security key: {passkey}"
    );
    assert_eq!(passkey["backedUp"], false, "{passkey}");
    assert_eq!(passkey["transports"], json!(["usb"]), "{passkey}");
    assert!(passkey.get("lastUsedAt").is_some(), "{passkey}");
    let id = user_id(&session);
    assert_eq!(stored_counter(&app, id).await, 0, "the counter registered");

    // A minute later, the email and the same key sign in.
    app.clock.advance(Duration::from_secs(60));
    let options = sign_in_options(&app, &email).await;
    assert_eq!(options["rpId"], "localhost", "{options}");
    assert_eq!(options["userVerification"], "required", "{options}");
    let allowed: Vec<&str> = options["allowCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(allowed, [credential_id(&credential)], "{options}");
    let signed_in = session_of(sign_in_verify(&app, &key.sign(&options), &email).await).await;
    assert_eq!(signed_in["user"]["id"], session["user"]["id"]);
    assert_ne!(signed_in["refreshTokenId"], session["refreshTokenId"]);
    assert_eq!(
        amr(&app, &token(&signed_in)).await,
        sorted(&["hwk", "user", "mfa"])
    );
    let claims = claims_of(&app, &token(&signed_in)).await;
    assert_eq!(claims["auth_time"], app.clock.now().unix_timestamp());
    assert_eq!(stored_counter(&app, id).await, 1, "the key's counter");
    let list = passkeys(&app, &token(&signed_in)).await;
    assert_eq!(parse_time(&list[0]["lastUsedAt"]), app.clock.now());

    app.clock.advance(Duration::from_secs(60));
    session_of(passkey_sign_in(&app, &mut key, &email).await).await;
    assert_eq!(stored_counter(&app, id).await, 2, "the counter goes up");
    let list = passkeys(&app, &token(&signed_in)).await;
    assert_eq!(parse_time(&list[0]["lastUsedAt"]), app.clock.now());
}

async fn a_passkey_sign_up_waits_for_the_verified_address(backend: Backend) {
    let (sink, app) = spawn(backend, &[("TESSERA_REQUIRE_EMAIL_VERIFICATION", "true")]).await;
    let email = unique_email();
    let mut key = Authenticator::new();
    let options = sign_up_options(&app, &email).await;
    let credential = key.register(&options);
    let body = ok_json(sign_up_verify(&app, &credential, "Laptop").await, "sign-up").await;
    assert_eq!(body, json!({ "session": null }));

    let message = sink.wait_for(&email, 1).await;
    assert!(message.data.contains("Verify your email address"));
    // Not before the address is verified.
    let options = sign_in_options(&app, &email).await;
    assert_error(
        sign_in_verify(&app, &key.sign(&options), &email).await,
        StatusCode::UNAUTHORIZED,
        "unverified-user",
    )
    .await;

    let (status, _) = follow(&app, &link(&message)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let session = session_of(passkey_sign_in(&app, &mut key, &email).await).await;
    let user = ok_json(get(&app, "/auth/user", &token(&session)).await, "user").await;
    assert_eq!(user["emailVerified"], true, "{user}");
}

async fn a_passkey_answers_only_the_origins_of_the_app(backend: Backend) {
    let (_sink, app) = spawn(backend, &[]).await;
    let email = unique_email();
    let mut key = Authenticator::new();
    sign_up(&app, &mut key, &email).await;

    // The same key used on pages the server does not serve: the public URL's origin (which
    // TESSERA_WEBAUTHN_ORIGINS replaces) and a look-alike subdomain.
    for origin in ["http://localhost:4000", "https://evil.localhost"] {
        let options = sign_in_options(&app, &email).await;
        let credential = key.sign_at(origin, &options);
        assert_error(
            sign_in_verify(&app, &credential, &email).await,
            StatusCode::UNAUTHORIZED,
            "invalid-webauthn-credential",
        )
        .await;
    }
    // And no account is made from a page of another origin.
    let other = unique_email();
    let options = sign_up_options(&app, &other).await;
    let credential = Authenticator::new().register_at("https://evil.localhost", &options);
    assert_error(
        sign_up_verify(&app, &credential, "Laptop").await,
        StatusCode::UNAUTHORIZED,
        "invalid-webauthn-credential",
    )
    .await;
    sign_up_options(&app, &other).await;

    // From the app's page, the key still works.
    session_of(passkey_sign_in(&app, &mut key, &email).await).await;
}

async fn a_challenge_is_answered_once_and_before_it_expires(backend: Backend) {
    let (_sink, app) = spawn(backend, &[]).await;
    let email = unique_email();
    let mut key = Authenticator::new();
    let options = sign_up_options(&app, &email).await;
    let registration = key.register(&options);
    session_of(sign_up_verify(&app, &registration, "Laptop").await).await;
    // The same registration again: its ceremony is over.
    assert_error(
        sign_up_verify(&app, &registration, "Laptop").await,
        StatusCode::UNAUTHORIZED,
        "invalid-webauthn-challenge",
    )
    .await;

    // An assertion someone captured signs in once.
    let options = sign_in_options(&app, &email).await;
    let credential = key.sign(&options);
    session_of(sign_in_verify(&app, &credential, &email).await).await;
    assert_error(
        sign_in_verify(&app, &credential, &email).await,
        StatusCode::UNAUTHORIZED,
        "invalid-webauthn-challenge",
    )
    .await;

    // A ceremony lives TESSERA_WEBAUTHN_TIMEOUT (5 minutes by default).
    let options = sign_in_options(&app, &email).await;
    let credential = key.sign(&options);
    app.clock.advance(CEREMONY_TIMEOUT - Duration::from_secs(1));
    session_of(sign_in_verify(&app, &credential, &email).await).await;
    let options = sign_in_options(&app, &email).await;
    let credential = key.sign(&options);
    app.clock.advance(CEREMONY_TIMEOUT + Duration::from_secs(1));
    assert_error(
        sign_in_verify(&app, &credential, &email).await,
        StatusCode::UNAUTHORIZED,
        "invalid-webauthn-challenge",
    )
    .await;

    // A sign-up ceremony too, and it leaves no account behind.
    let late = unique_email();
    let options = sign_up_options(&app, &late).await;
    let credential = Authenticator::new().register(&options);
    app.clock.advance(CEREMONY_TIMEOUT + Duration::from_secs(1));
    assert_error(
        sign_up_verify(&app, &credential, "Laptop").await,
        StatusCode::UNAUTHORIZED,
        "invalid-webauthn-challenge",
    )
    .await;
    sign_up_options(&app, &late).await;
}

async fn a_shorter_ceremony_timeout_is_honoured(backend: Backend) {
    let (_sink, app) = spawn(backend, &[("TESSERA_WEBAUTHN_TIMEOUT", "30s")]).await;
    let email = unique_email();
    let mut key = Authenticator::new();
    sign_up(&app, &mut key, &email).await;
    let options = sign_in_options(&app, &email).await;
    assert_eq!(options["timeout"], 30_000, "{options}");
    let credential = key.sign(&options);
    app.clock.advance(Duration::from_secs(31));
    assert_error(
        sign_in_verify(&app, &credential, &email).await,
        StatusCode::UNAUTHORIZED,
        "invalid-webauthn-challenge",
    )
    .await;
}

async fn a_ceremony_finishes_only_where_and_for_whom_it_began(backend: Backend) {
    let (_sink, app) = spawn(backend, &[]).await;
    let (alice, bob) = (unique_email(), unique_email());
    let (mut alice_key, mut bob_key) = (Authenticator::new(), Authenticator::new());
    let (alice_session, alice_credential) = sign_up(&app, &mut alice_key, &alice).await;
    let (bob_session, _) = sign_up(&app, &mut bob_key, &bob).await;
    let alice_token = token(&alice_session);

    // A sign-up ceremony (of someone else's address) cannot add a passkey to Alice.
    let options = sign_up_options(&app, &unique_email()).await;
    let credential = Authenticator::new().register(&options);
    assert_error(
        add_verify(&app, &alice_token, &credential, "Stolen").await,
        StatusCode::UNAUTHORIZED,
        "invalid-webauthn-challenge",
    )
    .await;
    assert_eq!(nicknames(&passkeys(&app, &alice_token).await), ["Laptop"]);

    // Nor can Alice's add ceremony make a new account.
    let options = ok_json(add_options(&app, &alice_token).await, "add options").await;
    let credential = Authenticator::new().register(&options);
    assert_error(
        sign_up_verify(&app, &credential, "Laptop").await,
        StatusCode::UNAUTHORIZED,
        "invalid-webauthn-challenge",
    )
    .await;

    // An assertion (of Alice's own sign-in ceremony) is no registration: nothing is added.
    let options = sign_in_options(&app, &alice).await;
    let credential = alice_key.sign(&options);
    assert_error(
        add_verify(&app, &alice_token, &credential, "Assertion").await,
        StatusCode::BAD_REQUEST,
        "invalid-request",
    )
    .await;
    assert_eq!(nicknames(&passkeys(&app, &alice_token).await), ["Laptop"]);

    // A sign-in ceremony does not elevate a session.
    let options = sign_in_options(&app, &alice).await;
    let credential = alice_key.sign(&options);
    assert_error(
        elevate_verify(&app, &alice_token, &credential).await,
        StatusCode::UNAUTHORIZED,
        "invalid-webauthn-challenge",
    )
    .await;

    // Alice's elevate ceremony, answered by Alice's key, does not elevate Bob's session.
    let options = elevate_options(&app, &alice_token).await;
    let credential = alice_key.sign(&options);
    assert_error(
        elevate_verify(&app, &token(&bob_session), &credential).await,
        StatusCode::UNAUTHORIZED,
        "invalid-webauthn-challenge",
    )
    .await;

    // Bob's sign-in ceremony answered with Alice's passkey does not sign in as Bob.
    let options = sign_in_options(&app, &bob).await;
    let credential = alice_key.sign(&allowing(&options, &alice_credential));
    assert_error(
        sign_in_verify(&app, &credential, &bob).await,
        StatusCode::UNAUTHORIZED,
        "invalid-webauthn-credential",
    )
    .await;
}

async fn a_credential_is_registered_once(backend: Backend) {
    let (_sink, app) = spawn(backend, &[]).await;
    let email = unique_email();
    let mut key = Authenticator::new();
    let options = sign_up_options(&app, &email).await;
    let registered = key.register(&options);
    let body = ok_json(sign_up_verify(&app, &registered, "Laptop").await, "sign-up").await;
    let session = body["session"].clone();
    audit_session(&session);

    // Another account cannot claim it, and the refusal leaves no account.
    let other = unique_email();
    let options = sign_up_options(&app, &other).await;
    assert_error(
        sign_up_verify(&app, &same_credential_again(&registered, &options), "Mine").await,
        StatusCode::CONFLICT,
        "webauthn-credential-exists",
    )
    .await;
    sign_up_options(&app, &other).await;
    // It still signs its owner in.
    session_of(passkey_sign_in(&app, &mut key, &email).await).await;

    // Adding it again: the options exclude it, and a client that ignores them is told it
    // is there already.
    let options = ok_json(add_options(&app, &token(&session)).await, "add options").await;
    let excluded: Vec<&str> = options["excludeCredentials"]
        .as_array()
        .unwrap_or_else(|| panic!("excludeCredentials: {options}"))
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(excluded, [credential_id(&registered)], "{options}");
    assert_error(
        add_verify(
            &app,
            &token(&session),
            &same_credential_again(&registered, &options),
            "Again",
        )
        .await,
        StatusCode::CONFLICT,
        "webauthn-credential-exists",
    )
    .await;
    assert_eq!(
        nicknames(&passkeys(&app, &token(&session)).await),
        ["Laptop"]
    );
}

async fn a_counter_that_goes_back_refuses_the_sign_in(backend: Backend) {
    let (_sink, app) = spawn(backend, &[]).await;
    let email = unique_email();
    let mut key = Authenticator::new();
    let (session, _) = sign_up(&app, &mut key, &email).await;
    session_of(passkey_sign_in(&app, &mut key, &email).await).await;
    let id = user_id(&session);
    assert_eq!(stored_counter(&app, id).await, 1);

    // A clone of the key has signed 1000 times since: the server saw 1000.
    let changed = execute(
        &app,
        "UPDATE webauthn_credentials SET counter = 1000 WHERE user_id = $1",
        id,
    )
    .await;
    assert_eq!(changed, 1);
    for _ in 0..2 {
        assert_error(
            passkey_sign_in(&app, &mut key, &email).await,
            StatusCode::UNAUTHORIZED,
            "webauthn-counter-regressed",
        )
        .await;
    }
    assert_eq!(stored_counter(&app, id).await, 1000, "not lowered");
    let events = ok_json(
        admin(
            &app,
            Method::GET,
            &format!("/auth/admin/events?kind=passkey-counter-regressed&userId={id}"),
        )
        .await,
        "events",
    )
    .await;
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["userId"], id.to_string());
}

/// The recent authentication is checked when an add finishes too: a ceremony begun inside
/// the window and finished after it adds nothing.
async fn an_add_finished_after_the_recent_window_adds_nothing(backend: Backend) {
    let (_sink, app) = spawn(backend, &[]).await;
    let session = signed_up(&app, &unique_email()).await;
    let bearer = token(&session);
    // Nine minutes into the ten-minute window the ceremony begins; it is finished a
    // minute and a half later, well within its own five minutes.
    app.clock.advance(Duration::from_secs(9 * 60));
    let options = ok_json(add_options(&app, &bearer).await, "add options").await;
    let mut key = Authenticator::new();
    let credential = key.register(&options);
    app.clock.advance(Duration::from_secs(90));
    assert_error(
        add_verify(&app, &bearer, &credential, "late").await,
        StatusCode::FORBIDDEN,
        "elevated-claim-required",
    )
    .await;
    assert!(passkeys(&app, &bearer).await.is_empty());
}

/// Removing a passkey (lost, stolen, cloned) ends the sessions it may have opened: every
/// session of the user but the remover's own.
async fn removing_a_passkey_ends_the_other_sessions(backend: Backend) {
    let (_sink, app) = spawn(backend, &[]).await;
    let email = unique_email();
    let session = signed_up(&app, &email).await;
    let bearer = token(&session);
    let mut stolen = Authenticator::new();
    let (added, _) = add_passkey(&app, &bearer, &mut stolen, "stolen").await;
    let thief = session_of(passkey_sign_in(&app, &mut stolen, &email).await).await;
    let removed = app
        .client
        .delete(app.url(&format!(
            "/auth/user/passkeys/{}",
            added["id"].as_str().unwrap()
        )))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::OK);
    assert_error(
        get(&app, "/auth/user", &token(&thief)).await,
        StatusCode::UNAUTHORIZED,
        "invalid-token",
    )
    .await;
    assert_eq!(
        get(&app, "/auth/user", &bearer).await.status(),
        StatusCode::OK
    );
}

/// An account holds at most 50 passkeys (each is listed in every step-up): the 51st is
/// refused before a ceremony begins, and one can be added again once one is removed.
async fn an_account_holds_at_most_fifty_passkeys(backend: Backend) {
    let (_sink, app) = spawn(backend, &[]).await;
    let session = signed_up(&app, &unique_email()).await;
    let bearer = token(&session);
    let user = user_id(&session);
    let now = app.clock.now();
    for n in 0..50 {
        let record = tessera::store::PasskeyRecord {
            id: Uuid::new_v4(),
            user_id: user,
            credential_id: Uuid::new_v4().as_bytes().to_vec(),
            passkey: json!({}),
            counter: 0,
            backup_eligible: false,
            backup_state: false,
            transports: Vec::new(),
            nickname: format!("key {n}"),
            created_at: now,
            last_used_at: None,
        };
        let event = tessera::store::SecurityEventRecord {
            occurred_at: now,
            kind: "passkey-added".into(),
            user_id: Some(user),
            session_id: None,
            ip: String::new(),
            user_agent: String::new(),
            detail: json!({}),
        };
        app.store.insert_passkey(&record, &event).await.unwrap();
    }
    let refused = assert_error(
        add_options(&app, &bearer).await,
        StatusCode::BAD_REQUEST,
        "invalid-request",
    )
    .await;
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("at most 50 passkeys"),
        "{refused}"
    );
    let first = passkeys(&app, &bearer).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        delete_passkey(&app, &bearer, &first).await.status(),
        StatusCode::OK
    );
    add_passkey(&app, &bearer, &mut Authenticator::new(), "the fiftieth").await;
}

/// The sign-up options of `POST /signup/webauthn` are kept with the ceremony and make the
/// account when it finishes: the profile a password sign-up would get.
async fn the_sign_up_options_shape_the_new_account(backend: Backend) {
    let (_sink, app) = spawn(backend, &[]).await;
    let email = unique_email();
    let options = ok_json(
        post(
            &app,
            "/auth/signup/webauthn",
            json!({ "email": email, "options": {
                "displayName": "Ada L.", "locale": "fr", "metadata": { "plan": "pro" } } }),
            None,
        )
        .await,
        "sign-up options",
    )
    .await;
    assert_eq!(options["user"]["displayName"], "Ada L.");
    let mut key = Authenticator::new();
    let body = ok_json(
        sign_up_verify(&app, &key.register(&options), "Laptop").await,
        "sign-up",
    )
    .await;
    audit_session(&body["session"]);
    let user = &body["session"]["user"];
    assert_eq!(user["displayName"], "Ada L.");
    assert_eq!(user["locale"], "fr");
    assert_eq!(user["metadata"], json!({ "plan": "pro" }));
}

async fn adding_a_passkey_needs_a_recent_sign_in_which_a_passkey_gives(backend: Backend) {
    let (_sink, app) = spawn(backend, &[]).await;
    let email = unique_email();
    let session = signed_up(&app, &email).await;
    let old = token(&session);
    let mut key = Authenticator::new();
    add_passkey(&app, &old, &mut key, "Laptop").await;

    app.clock.advance(PAST_RECENT_WINDOW);
    assert_error(
        add_options(&app, &old).await,
        StatusCode::FORBIDDEN,
        "elevated-claim-required",
    )
    .await;
    assert_error(
        post(
            &app,
            "/auth/user/password",
            json!({ "newPassword": NEW_PASSWORD }),
            Some(&old),
        )
        .await,
        StatusCode::FORBIDDEN,
        "elevated-claim-required",
    )
    .await;

    let options = elevate_options(&app, &old).await;
    let credential = key.sign(&options);
    let response = elevate_verify(&app, &old, &credential).await;
    let elevated = session_of(response).await;
    let fresh = token(&elevated);
    assert_eq!(elevated["user"]["id"], session["user"]["id"]);
    assert_ne!(elevated["refreshTokenId"], session["refreshTokenId"]);
    assert_eq!(
        amr(&app, &fresh).await,
        sorted(&["pwd", "hwk", "user", "mfa"]),
        "the old session's methods and the passkey's"
    );
    let claims = claims_of(&app, &fresh).await;
    assert_eq!(claims["auth_time"], app.clock.now().unix_timestamp());

    add_passkey(&app, &fresh, &mut Authenticator::new(), "Phone").await;
    assert_eq!(
        nicknames(&passkeys(&app, &fresh).await),
        ["Laptop", "Phone"]
    );
    let changed = post(
        &app,
        "/auth/user/password",
        json!({ "newPassword": NEW_PASSWORD }),
        Some(&fresh),
    )
    .await;
    assert_eq!(changed.status(), StatusCode::OK);
    assert_eq!(
        sign_in(&app, &email, NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
}

async fn a_passkey_is_a_second_factor(backend: Backend) {
    let (_sink, app) = spawn(backend, &[]).await;
    let email = unique_email();
    let session = signed_up(&app, &email).await;
    let (secret, _) = enable(&app, &session).await;
    let first = ticket(&app, &email).await;
    let with_totp = session_of(second_step(&app, &first, &next_code(&app, &secret)).await).await;
    let mut key = Authenticator::new();
    add_passkey(&app, &token(&with_totp), &mut key, "Security key").await;

    // The password, then the passkey instead of a code.
    let ticket = ticket(&app, &email).await;
    let options = ok_json(
        post(
            &app,
            "/auth/signin/mfa/webauthn",
            json!({ "ticket": ticket }),
            None,
        )
        .await,
        "second-factor options",
    )
    .await;
    assert_eq!(options["userVerification"], "required", "{options}");
    let credential = key.sign(&options);
    let response = post(
        &app,
        "/auth/signin/mfa/webauthn/verify",
        json!({ "ticket": ticket, "credential": credential }),
        None,
    )
    .await;
    let signed_in = session_of(response).await;
    assert_eq!(signed_in["user"]["id"], session["user"]["id"]);
    let methods = amr(&app, &token(&signed_in)).await;
    for method in ["pwd", "hwk", "mfa"] {
        assert!(methods.contains(&method.to_owned()), "{methods:?}");
    }
    assert!(!methods.contains(&"otp".to_owned()), "{methods:?}");

    // The ticket is spent, for passkeys and codes alike.
    assert_error(
        post(
            &app,
            "/auth/signin/mfa/webauthn",
            json!({ "ticket": ticket }),
            None,
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid-ticket",
    )
    .await;
    assert_error(
        second_step(&app, &ticket, &next_code(&app, &secret)).await,
        StatusCode::UNAUTHORIZED,
        "invalid-ticket",
    )
    .await;
}

async fn passkeys_are_listed_renamed_and_deleted(backend: Backend) {
    let (_sink, app) = spawn(backend, &[]).await;
    let email = unique_email();
    let (mut laptop, mut phone) = (Authenticator::new(), Authenticator::new());
    let (session, laptop_credential) = sign_up(&app, &mut laptop, &email).await;
    let user = user_id(&session);
    let signed_up = token(&session);

    let list = passkeys(&app, &signed_up).await;
    let laptop_id = list[0]["id"].as_str().unwrap().to_owned();
    let renamed = ok_json(
        request(
            &app,
            Method::PATCH,
            &format!("/auth/user/passkeys/{laptop_id}"),
            Some(json!({ "nickname": "Work laptop" })),
            &signed_up,
        )
        .await,
        "rename",
    )
    .await;
    assert_eq!(renamed["id"], laptop_id.as_str());
    assert_eq!(renamed["nickname"], "Work laptop");
    assert_eq!(
        nicknames(&passkeys(&app, &signed_up).await),
        ["Work laptop"]
    );

    // The only way in of an account without a password stays.
    assert_error(
        delete_passkey(&app, &signed_up, &laptop_id).await,
        StatusCode::FORBIDDEN,
        "last-sign-in-method",
    )
    .await;

    let (phone_added, _) = add_passkey(&app, &signed_up, &mut phone, "Phone").await;
    let phone_id = phone_added["id"].as_str().unwrap().to_owned();
    assert_eq!(
        nicknames(&passkeys(&app, &signed_up).await),
        ["Phone", "Work laptop"]
    );

    // Deleting needs a recent sign-in; the phone gives one.
    app.clock.advance(PAST_RECENT_WINDOW);
    assert_error(
        delete_passkey(&app, &signed_up, &laptop_id).await,
        StatusCode::FORBIDDEN,
        "elevated-claim-required",
    )
    .await;
    let options = elevate_options(&app, &signed_up).await;
    let elevated = session_of(elevate_verify(&app, &signed_up, &phone.sign(&options)).await).await;
    let fresh = token(&elevated);
    let deleted = delete_passkey(&app, &fresh, &laptop_id).await;
    assert_eq!(deleted.status(), StatusCode::OK);
    assert_eq!(deleted.json::<Value>().await.unwrap(), "OK");
    assert_eq!(nicknames(&passkeys(&app, &fresh).await), ["Phone"]);
    // The laptop's key no longer signs in, even when a page asks for it by id.
    let options = sign_in_options(&app, &email).await;
    assert_error(
        sign_in_verify(
            &app,
            &laptop.sign(&allowing(&options, &laptop_credential)),
            &email,
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid-webauthn-credential",
    )
    .await;
    assert_error(
        delete_passkey(&app, &fresh, &phone_id).await,
        StatusCode::FORBIDDEN,
        "last-sign-in-method",
    )
    .await;

    // Someone else cannot rename or delete it.
    let stranger = signed_up_password(&app).await;
    let renamed = request(
        &app,
        Method::PATCH,
        &format!("/auth/user/passkeys/{phone_id}"),
        Some(json!({ "nickname": "Mine" })),
        &stranger,
    )
    .await;
    assert_eq!(renamed.status(), StatusCode::NOT_FOUND);
    let deleted = delete_passkey(&app, &stranger, &phone_id).await;
    assert_eq!(deleted.status(), StatusCode::NOT_FOUND);
    assert_eq!(nicknames(&passkeys(&app, &fresh).await), ["Phone"]);

    // An account with a password can delete its only passkey.
    let (stranger_key, _) = add_passkey(&app, &stranger, &mut Authenticator::new(), "Tablet").await;
    let deleted = delete_passkey(&app, &stranger, stranger_key["id"].as_str().unwrap()).await;
    assert_eq!(deleted.status(), StatusCode::OK);
    assert!(passkeys(&app, &stranger).await.is_empty());

    // The admin sees them and can delete one, of that user only.
    assert_eq!(admin_nicknames(&app, user).await, ["Phone"]);
    let (spare, _) = add_passkey(&app, &fresh, &mut Authenticator::new(), "Spare").await;
    let spare_id = spare["id"].as_str().unwrap();
    assert_eq!(admin_nicknames(&app, user).await, ["Phone", "Spare"]);
    let stranger_id = ok_json(get(&app, "/auth/user", &stranger).await, "user").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong_user = admin(
        &app,
        Method::DELETE,
        &format!("/auth/admin/users/{stranger_id}/passkeys/{spare_id}"),
    )
    .await;
    assert_eq!(wrong_user.status(), StatusCode::NOT_FOUND);
    assert_eq!(admin_nicknames(&app, user).await, ["Phone", "Spare"]);
    let deleted = admin(
        &app,
        Method::DELETE,
        &format!("/auth/admin/users/{user}/passkeys/{spare_id}"),
    )
    .await;
    assert_eq!(deleted.status(), StatusCode::OK);
    assert_eq!(admin_nicknames(&app, user).await, ["Phone"]);
    // An administrator removes a passkey because it may be in the wrong hands: every
    // session of the user ends with it, the one that signed up included.
    assert_error(
        get(&app, "/auth/user/passkeys", &fresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid-token",
    )
    .await;
}

/// A fresh password account's access token.
async fn signed_up_password(app: &TestApp) -> String {
    token(&signed_up(app, &unique_email()).await)
}

/// `DELETE /user/passkeys/{id}`.
async fn delete_passkey(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    request(
        app,
        Method::DELETE,
        &format!("/auth/user/passkeys/{id}"),
        None,
        token,
    )
    .await
}

async fn a_disabled_account_cannot_sign_in_with_its_passkey(backend: Backend) {
    let (_sink, app) = spawn(backend, &[]).await;
    let email = unique_email();
    let mut key = Authenticator::new();
    let (session, _) = sign_up(&app, &mut key, &email).await;
    let id = user_id(&session);
    let disabled = admin(
        &app,
        Method::POST,
        &format!("/auth/admin/users/{id}/disable"),
    )
    .await;
    assert_eq!(disabled.status(), StatusCode::OK);
    assert_error(
        passkey_sign_in(&app, &mut key, &email).await,
        StatusCode::UNAUTHORIZED,
        "disabled-user",
    )
    .await;
    let enabled = admin(
        &app,
        Method::POST,
        &format!("/auth/admin/users/{id}/enable"),
    )
    .await;
    assert_eq!(enabled.status(), StatusCode::OK);
    session_of(passkey_sign_in(&app, &mut key, &email).await).await;
}

async fn a_ceremony_begun_on_one_server_finishes_on_another(backend: Backend) {
    let (_sink, first) = spawn(backend, &[]).await;
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let mut vars = vec![
        ("TESSERA_SMTP_URL", url.as_str()),
        ("TESSERA_ALLOWED_REDIRECT_URLS", "https://app.example.com"),
        ("TESSERA_PUBLIC_URL", "http://localhost:4000/auth"),
    ];
    vars.extend_from_slice(&WEBAUTHN_VARS);
    let second = TestApp::start(backend, first.db.clone(), &vars, false, first.clock.clone()).await;

    let email = unique_email();
    let mut key = Authenticator::new();
    let options = sign_up_options(&first, &email).await;
    let credential = key.register(&options);
    let session = session_of(sign_up_verify(&second, &credential, "Laptop").await).await;

    let options = sign_in_options(&second, &email).await;
    let credential = key.sign(&options);
    let signed_in = session_of(sign_in_verify(&first, &credential, &email).await).await;
    assert_eq!(signed_in["user"]["id"], session["user"]["id"]);
    // Used on one, it is used on both.
    assert_error(
        sign_in_verify(&second, &credential, &email).await,
        StatusCode::UNAUTHORIZED,
        "invalid-webauthn-challenge",
    )
    .await;
}

both_backends!(
    signing_up_with_a_passkey_then_signing_in_with_it,
    a_passkey_sign_up_waits_for_the_verified_address,
    a_passkey_answers_only_the_origins_of_the_app,
    a_challenge_is_answered_once_and_before_it_expires,
    a_shorter_ceremony_timeout_is_honoured,
    a_ceremony_finishes_only_where_and_for_whom_it_began,
    a_credential_is_registered_once,
    a_counter_that_goes_back_refuses_the_sign_in,
    adding_a_passkey_needs_a_recent_sign_in_which_a_passkey_gives,
    an_add_finished_after_the_recent_window_adds_nothing,
    removing_a_passkey_ends_the_other_sessions,
    an_account_holds_at_most_fifty_passkeys,
    the_sign_up_options_shape_the_new_account,
    a_passkey_is_a_second_factor,
    passkeys_are_listed_renamed_and_deleted,
    a_disabled_account_cannot_sign_in_with_its_passkey,
    a_ceremony_begun_on_one_server_finishes_on_another,
);
