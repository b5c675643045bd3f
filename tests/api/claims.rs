//! Custom claims (`TESSERA_CUSTOM_CLAIMS`, `TESSERA_CUSTOM_TOP_LEVEL_CLAIMS`): read from the
//! user at every issue, on both stores, and still verified by `tessera-verify`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tessera::support::clock::Clock;
use tessera_verify::Verifier;

use crate::both_backends;
use crate::helpers::{Backend, PASSWORD, TestApp, unique_email};

const SECRET: &str = "an-admin-secret-of-at-least-32-characters";
const NAMESPACE: &str = "https://hasura.io/jwt/claims";

async fn claims_app(backend: Backend) -> TestApp {
    TestApp::spawn_with(
        backend,
        &[
            ("TESSERA_ADMIN_SECRET", SECRET),
            (
                "TESSERA_CUSTOM_CLAIMS",
                r#"{"org":"metadata.org.id","teams":"metadata.teams","roles":"roles","plan":"metadata.plan","verified":"emailVerified","seats":"metadata.seats","blob":"metadata.blob"}"#,
            ),
            (
                "TESSERA_CUSTOM_TOP_LEVEL_CLAIMS",
                r#"{"org_id":"metadata.org.id","teams":"metadata.teams","email":"email","locale":"locale","plan":"metadata.plan"}"#,
            ),
        ],
    )
    .await
}

fn claims_of(session: &Value) -> Value {
    jsonwebtoken::dangerous::insecure_decode::<Value>(session["accessToken"].as_str().unwrap())
        .unwrap()
        .claims
}

async fn sign_up_with_metadata(app: &TestApp, email: &str, metadata: Value) -> Value {
    let response = app
        .post_json(
            "/signup/email-password",
            &json!({ "email": email, "password": PASSWORD,
                     "options": { "locale": "fr", "metadata": metadata } }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["session"].clone()
}

async fn tokens_carry_custom_claims_and_follow_changes_on_refresh(backend: Backend) {
    let app = claims_app(backend).await;
    let email = unique_email();
    let session = sign_up_with_metadata(
        &app,
        &email,
        json!({ "org": { "id": "acme" }, "teams": ["red", "b,lue"], "seats": 5,
                "blob": "x".repeat(2000) }),
    )
    .await;
    let claims = claims_of(&session);
    let hasura = &claims[NAMESPACE];
    assert_eq!(hasura["x-hasura-org"], "acme");
    // Hasura session variables are strings: arrays as Postgres array literals, other
    // scalars as their JSON text.
    assert_eq!(hasura["x-hasura-teams"], r#"{"red","b,lue"}"#);
    assert_eq!(hasura["x-hasura-roles"], r#"{"user"}"#);
    assert_eq!(hasura["x-hasura-verified"], "false");
    assert_eq!(hasura["x-hasura-seats"], "5");
    // The fixed Hasura claims are untouched.
    assert_eq!(hasura["x-hasura-default-role"], "user");
    assert_eq!(hasura["x-hasura-allowed-roles"], json!(["user"]));
    // At the top level values stay JSON.
    assert_eq!(claims["org_id"], "acme");
    assert_eq!(claims["teams"], json!(["red", "b,lue"]));
    assert_eq!(claims["email"], email);
    assert_eq!(claims["locale"], "fr");
    // A path that leads nowhere adds no claim (not even null); a value over the size cap
    // is left out, so user-written metadata cannot inflate tokens.
    let hasura = hasura.as_object().unwrap();
    assert!(!hasura.contains_key("x-hasura-plan"), "{hasura:?}");
    assert!(!hasura.contains_key("x-hasura-blob"), "{hasura:?}");
    assert!(claims.get("plan").is_none(), "{claims}");
    assert_eq!(claims["sub"], session["user"]["id"]);

    // The token verifies with Tessera and with the verifier crate.
    assert_eq!(
        app.verify(session["accessToken"].as_str().unwrap()).await,
        StatusCode::OK
    );
    let clock = app.clock.clone();
    let verifier = Verifier::builder(
        app.url("/.well-known/jwks.json"),
        &app.state.config.tokens.issuer,
        "tessera",
    )
    .clock(move || clock.now().unix_timestamp())
    .build();
    let verified = verifier
        .verify(session["accessToken"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(verified.sub.to_string(), session["user"]["id"]);

    // An administrator changes metadata and roles; the next refresh carries the new
    // values, with no sign-in in between.
    let id = session["user"]["id"].as_str().unwrap();
    let patched = app
        .client
        .request(Method::PATCH, app.url(&format!("/admin/users/{id}")))
        .header("x-tessera-admin-secret", SECRET)
        .json(
            &json!({ "metadata": { "org": { "id": "globex" }, "plan": "pro" },
                       "roles": ["user", "editor"], "defaultRole": "editor" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let refreshed: Value = app
        .refresh(session["refreshToken"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let claims = claims_of(&refreshed);
    let hasura = &claims[NAMESPACE];
    assert_eq!(hasura["x-hasura-org"], "globex");
    assert_eq!(hasura["x-hasura-plan"], "pro");
    assert_eq!(hasura["x-hasura-roles"], r#"{"user","editor"}"#);
    assert_eq!(hasura["x-hasura-default-role"], "editor");
    assert!(hasura.get("x-hasura-teams").is_none(), "{hasura}");
    assert_eq!(claims["org_id"], "globex");
    assert_eq!(claims["plan"], "pro");
    assert!(claims.get("teams").is_none(), "{claims}");
    assert!(
        verifier
            .verify(refreshed["accessToken"].as_str().unwrap())
            .await
            .is_ok()
    );

    // A sign-in reads the same values.
    let signed_in = app.sign_in(&email).await;
    assert_eq!(claims_of(&signed_in)["org_id"], "globex");
}

async fn top_level_claims_work_without_the_hasura_namespace(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("TESSERA_HASURA_CLAIMS", "false"),
            (
                "TESSERA_CUSTOM_TOP_LEVEL_CLAIMS",
                r#"{"org":"metadata.org","verified":"emailVerified"}"#,
            ),
        ],
    )
    .await;
    let session = sign_up_with_metadata(&app, &unique_email(), json!({ "org": "acme" })).await;
    let claims = claims_of(&session);
    assert!(claims.get(NAMESPACE).is_none(), "{claims}");
    assert_eq!(claims["org"], "acme");
    assert_eq!(claims["verified"], false);
    assert_eq!(
        app.verify(session["accessToken"].as_str().unwrap()).await,
        StatusCode::OK
    );
}

both_backends!(
    tokens_carry_custom_claims_and_follow_changes_on_refresh,
    top_level_claims_work_without_the_hasura_namespace,
);
