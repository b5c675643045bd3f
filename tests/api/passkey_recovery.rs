//! A lost passkey, as the README tells users to recover: an account whose only way in was
//! one passkey gets a password through the mailbox ("forgot password"), signs in with it,
//! registers a new passkey and removes the lost one; and, until it has another way in,
//! the last passkey cannot be removed.

use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, assert_error, unique_email};
use crate::lifecycle::{APP, NEW_PASSWORD, follow, fragment, post, sign_in, spawn};
use crate::smtp_sink::{SmtpSink, link};

const ORIGIN: &str = "http://localhost:4000";

async fn json_of(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn authorized(app: &TestApp, method: reqwest::Method, path: &str, bearer: &str) -> Value {
    json_of(
        app.client
            .request(method, app.url(path))
            .bearer_auth(bearer)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// `POST /signin/webauthn {email}`: the request options.
async fn sign_in_options(app: &TestApp, email: &str) -> Value {
    json_of(
        post(
            app,
            "/auth/signin/webauthn",
            json!({ "email": email }),
            None,
        )
        .await,
    )
    .await
}

/// `POST /signin/webauthn/verify`.
async fn sign_in_verify(app: &TestApp, assertion: &impl serde::Serialize) -> reqwest::Response {
    post(
        app,
        "/auth/signin/webauthn/verify",
        json!({ "credential": assertion }),
        None,
    )
    .await
}

/// What `key`, on the app's page, answers to request options.
fn sign(key: &mut SoftPasskey, options: &Value) -> webauthn_rs_proto::PublicKeyCredential {
    key.do_authentication(
        Url::parse(ORIGIN).unwrap(),
        serde_json::from_value(json!({ "publicKey": options })).unwrap(),
    )
    .unwrap()
}

async fn a_lost_passkey_is_replaced_through_the_mailbox(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(
        backend,
        &sink,
        &[("TESSERA_REQUIRE_EMAIL_VERIFICATION", "true")],
    )
    .await;
    let origin = Url::parse(ORIGIN).unwrap();
    let email = unique_email();
    let mut lost = SoftPasskey::new(true);
    let options = json_of(
        post(
            &app,
            "/auth/signup/webauthn",
            json!({ "email": email, "options": { "redirectTo": APP } }),
            None,
        )
        .await,
    )
    .await;
    let created = lost
        .do_registration(
            origin.clone(),
            serde_json::from_value(json!({ "publicKey": options })).unwrap(),
        )
        .unwrap();
    let pending = json_of(
        post(
            &app,
            "/auth/signup/webauthn/verify",
            json!({ "credential": created, "nickname": "old phone" }),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        pending["session"],
        Value::Null,
        "the address must be verified first"
    );
    let request = sign_in_options(&app, &email).await;
    let early = sign(&mut lost, &request);
    assert_error(
        sign_in_verify(&app, &early).await,
        StatusCode::UNAUTHORIZED,
        "unverified-user",
    )
    .await;
    let (status, _) = follow(&app, &link(&sink.wait_for(&email, 1).await)).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the verification link");
    let request = sign_in_options(&app, &email).await;
    let assertion = sign(&mut lost, &request);
    let signed_up = json_of(sign_in_verify(&app, &assertion).await).await;
    let first = signed_up["session"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = authorized(&app, reqwest::Method::GET, "/auth/user/passkeys", &first).await;
    let old_id = listed["passkeys"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(listed["passkeys"][0]["nickname"], "old phone");
    assert_error(
        app.client
            .delete(app.url(&format!("/auth/user/passkeys/{old_id}")))
            .bearer_auth(&first)
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
        "last-sign-in-method",
    )
    .await;

    // The phone is lost. "Forgot password" on an account that never had one.
    post(
        &app,
        "/auth/user/password/reset",
        json!({ "email": email, "options": { "redirectTo": APP } }),
        None,
    )
    .await;
    let (_, location) = follow(&app, &link(&sink.wait_for(&email, 2).await)).await;
    let ticket = fragment(&location, "ticket").expect("the reset ticket");
    let reset = post(
        &app,
        "/auth/user/password",
        json!({ "newPassword": NEW_PASSWORD, "ticket": ticket }),
        None,
    )
    .await;
    assert_eq!(reset.status(), StatusCode::OK);
    let session = json_of(sign_in(&app, &email, NEW_PASSWORD).await).await;
    let bearer = session["session"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();

    // A new passkey on the new phone, then the lost one goes.
    let mut new_phone = SoftPasskey::new(true);
    let options = authorized(
        &app,
        reqwest::Method::POST,
        "/auth/user/webauthn/add",
        &bearer,
    )
    .await;
    let excluded = options["excludeCredentials"].as_array().unwrap();
    assert_eq!(excluded.len(), 1, "the lost passkey is excluded: {options}");
    let created = new_phone
        .do_registration(
            origin.clone(),
            serde_json::from_value(json!({ "publicKey": options })).unwrap(),
        )
        .unwrap();
    let added = json_of(
        app.client
            .post(app.url("/auth/user/webauthn/verify"))
            .bearer_auth(&bearer)
            .json(&json!({ "credential": created, "nickname": "new phone" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(added["nickname"], "new phone");
    let removed = app
        .client
        .delete(app.url(&format!("/auth/user/passkeys/{old_id}")))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::OK);
    let listed = authorized(&app, reqwest::Method::GET, "/auth/user/passkeys", &bearer).await;
    let names: Vec<&str> = listed["passkeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["nickname"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["new phone"]);

    // The new phone signs in; whoever finds the old one cannot.
    let request = sign_in_options(&app, &email).await;
    let assertion = sign(&mut new_phone, &request);
    let again = json_of(sign_in_verify(&app, &assertion).await).await;
    assert_eq!(again["session"]["user"]["email"], email.as_str());
    let request = sign_in_options(&app, &email).await;
    assert!(
        lost.do_authentication(
            origin,
            serde_json::from_value(json!({ "publicKey": request })).unwrap()
        )
        .is_err(),
        "the lost authenticator is not among the account's passkeys any more"
    );
}

both_backends!(a_lost_passkey_is_replaced_through_the_mailbox);
