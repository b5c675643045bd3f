//! Tessera's OpenID provider as real relying-party libraries see it (tests/rps/): an app on
//! Node's openid-client (confidential and public), a Python app on Authlib
//! (client_secret_basic, introspection, revocation) and a Go back end on go-oidc (the ID
//! token verified through discovery, and one issued to another app refused). None of them
//! knows anything of Tessera but its issuer URL; each stands in for the user only at
//! `POST /oauth2/login` (the login page's approval, with the user's Tessera access token).
//! The programs print one JSON fact a line; this file asserts on them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, TestApp, audit_secret, free_port, npm_ci, unique_email};

const ADMIN_SECRET: &str = "an-admin-secret-of-at-least-32-characters";
/// Registered with every client; never fetched (the programs stop at the redirect).
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
const POST_LOGOUT_URI: &str = "http://127.0.0.1:9/signed-out";
/// The operator's login page (Nhost's hand-over): never fetched either.
const LOGIN_URL: &str = "http://localhost:3000/oauth2/consent";

fn rps_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/rps")
}

/// Tessera with the provider on, on the system clock (the libraries check `iat` and `exp`
/// against theirs), its issuer the URL the programs reach it at, and no reuse grace: a
/// replaced refresh token presented again is reuse at once.
async fn provider(backend: Backend) -> TestApp {
    let port = free_port();
    let (listen, public) = (
        format!("127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}"),
    );
    TestApp::spawn_realtime_with(
        backend,
        &[
            ("TESSERA_LISTEN", &listen),
            ("TESSERA_PUBLIC_URL", &public),
            ("TESSERA_OAUTH2_PROVIDER", "true"),
            ("TESSERA_OAUTH2_LOGIN_URL", LOGIN_URL),
            ("TESSERA_ADMIN_SECRET", ADMIN_SECRET),
            ("TESSERA_REFRESH_REUSE_GRACE", "0"),
        ],
    )
    .await
}

/// A registered app: its id, and its secret for a confidential one.
struct RegisteredClient {
    id: String,
    secret: Option<String>,
}

async fn register(app: &TestApp, name: &str, public: bool) -> RegisteredClient {
    let response = app
        .client
        .post(app.url("/oauth2/clients"))
        .header("x-tessera-admin-secret", ADMIN_SECRET)
        .json(&json!({
            "name": name,
            "redirectUris": [REDIRECT_URI],
            "postLogoutRedirectUris": [POST_LOGOUT_URI],
            "scopes": ["openid", "profile", "email", "offline_access"],
            "public": public,
            "firstParty": false,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "client registration"
    );
    let body: Value = response.json().await.unwrap();
    let secret = body["clientSecret"].as_str().map(str::to_owned);
    assert_eq!(secret.is_none(), public, "{body}");
    if let Some(secret) = &secret {
        audit_secret(secret);
    }
    RegisteredClient {
        id: body["clientId"].as_str().unwrap().to_owned(),
        secret,
    }
}

/// A signed-up user: id, email and Tessera access token (to approve with).
struct User {
    id: String,
    email: String,
    access_token: String,
}

async fn user(app: &TestApp) -> User {
    let email = unique_email();
    let session = app.sign_up(&email).await;
    User {
        id: session["user"]["id"].as_str().unwrap().to_owned(),
        email,
        access_token: session["accessToken"].as_str().unwrap().to_owned(),
    }
}

/// Runs a relying-party program to its end (off the runtime's threads) and returns its
/// facts by `check`; fails with everything it printed unless it exited 0 after `done`.
async fn run(
    program: String,
    args: Vec<String>,
    dir: PathBuf,
    env: Vec<(&'static str, String)>,
) -> HashMap<String, Value> {
    let name = program.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&program)
            .args(&args)
            .current_dir(dir)
            .envs(env)
            .output()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"))
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{name} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let facts: HashMap<String, Value> = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|fact| Some((fact["check"].as_str()?.to_owned(), fact)))
        .collect();
    assert!(
        facts.contains_key("done"),
        "{name} did not finish:\n{stdout}\n{stderr}"
    );
    facts
}

fn fact<'a>(facts: &'a HashMap<String, Value>, check: &str) -> &'a Value {
    facts
        .get(check)
        .unwrap_or_else(|| panic!("no {check:?} among {facts:?}"))
}

/// openid-client (Node): discovery, authorization with PKCE, state and nonce, the code
/// exchange with the ID token's checks (signature by the JWKS, iss, aud, nonce, at_hash),
/// userinfo, rotation and reuse detection, revocation, RP-initiated logout, and the
/// server's refusals of a replayed code and a wrong verifier; as a confidential client and
/// as a public one.
async fn openid_client(backend: Backend) {
    let app = provider(backend).await;
    let user = user(&app).await;
    let dir = rps_dir().join("node");
    let install = dir.clone();
    tokio::task::spawn_blocking(move || npm_ci(&install))
        .await
        .unwrap();
    for public in [false, true] {
        let client = register(&app, "openid-client", public).await;
        let mut env = vec![
            ("TESSERA_URL", app.address.clone()),
            ("CLIENT_ID", client.id.clone()),
            ("REDIRECT_URI", REDIRECT_URI.to_owned()),
            ("POST_LOGOUT_URI", POST_LOGOUT_URI.to_owned()),
            ("ACCESS_TOKEN", user.access_token.clone()),
        ];
        if let Some(secret) = &client.secret {
            env.push(("CLIENT_SECRET", secret.clone()));
        }
        let facts = run("node".into(), vec!["rp.mjs".into()], dir.clone(), env).await;
        let kind = if public { "public" } else { "confidential" };

        let discovery = fact(&facts, "discovery");
        assert_eq!(discovery["issuer"], app.address, "{kind}");
        assert_eq!(discovery["algs"], json!(["ES256"]), "{kind}");
        let code = fact(&facts, "code");
        assert_eq!(code["sub"], user.id, "{kind}: {code}");
        assert_eq!(code["email"], user.email, "{kind}: {code}");
        assert_eq!(code["iss"], app.address, "{kind}: {code}");
        assert_eq!(code["aud"], client.id, "{kind}: {code}");
        assert_eq!(code["nonce"], true, "{kind}: {code}");
        assert_eq!(code["atHash"], true, "{kind}: {code}");
        assert_eq!(code["hasSid"], true, "{kind}: {code}");
        assert_eq!(
            code["scope"], "openid profile email offline_access",
            "{kind}: {code}"
        );
        let userinfo = fact(&facts, "userinfo");
        assert_eq!(userinfo["sub"], user.id, "{kind}: {userinfo}");
        assert_eq!(userinfo["email"], user.email, "{kind}: {userinfo}");
        assert_eq!(userinfo["emailVerified"], false, "{kind}: {userinfo}");
        let refresh = fact(&facts, "refresh");
        assert_eq!(refresh["rotated"], 2, "{kind}: {refresh}");
        assert_eq!(refresh["idToken"], true, "{kind}: {refresh}");
        assert_eq!(refresh["sub"], user.id, "{kind}: {refresh}");
        assert_eq!(refresh["sameSid"], true, "{kind}: {refresh}");
        for check in [
            "code-replay",
            "reuse",
            "immediate-reuse",
            "revocation",
            "pkce",
        ] {
            assert_eq!(fact(&facts, check)["refused"], true, "{kind}: {check}");
        }
        let logout = fact(&facts, "logout");
        assert_eq!(logout["redirected"], true, "{kind}: {logout}");
        assert_eq!(logout["state"], true, "{kind}: {logout}");
        assert_eq!(logout["refused"], true, "{kind}: {logout}");
    }
}

/// Authlib (Python), a confidential client with `client_secret_basic`: the ID token
/// validated as Authlib's OpenID client does, userinfo, introspection of both tokens,
/// another client's introspection and revocation changing nothing, a wrong secret refused,
/// rotation, and revocation turning both tokens inactive.
async fn authlib(backend: Backend) {
    let app = provider(backend).await;
    let user = user(&app).await;
    let client = register(&app, "authlib", false).await;
    let other = register(&app, "authlib-other", false).await;
    let env = vec![
        ("TESSERA_URL", app.address.clone()),
        ("CLIENT_ID", client.id.clone()),
        ("CLIENT_SECRET", client.secret.clone().unwrap()),
        ("OTHER_CLIENT_ID", other.id.clone()),
        ("OTHER_CLIENT_SECRET", other.secret.clone().unwrap()),
        ("REDIRECT_URI", REDIRECT_URI.to_owned()),
        ("ACCESS_TOKEN", user.access_token.clone()),
        ("PYTHONDONTWRITEBYTECODE", "1".to_owned()),
    ];
    let facts = run(
        "python3".into(),
        vec!["rp.py".into()],
        rps_dir().join("python"),
        env,
    )
    .await;

    let id_token = fact(&facts, "id_token");
    assert_eq!(id_token["sub"], user.id, "{id_token}");
    assert_eq!(id_token["email"], user.email, "{id_token}");
    assert_eq!(id_token["iss"], app.address, "{id_token}");
    assert_eq!(id_token["aud"], client.id, "{id_token}");
    assert_eq!(id_token["alg"], "ES256", "{id_token}");
    assert_eq!(id_token["nonce"], true, "{id_token}");
    assert_eq!(id_token["atHash"], true, "{id_token}");
    let userinfo = fact(&facts, "userinfo");
    assert_eq!(userinfo["sub"], user.id, "{userinfo}");
    assert_eq!(userinfo["email"], user.email, "{userinfo}");
    assert!(facts.contains_key("aud-refused"));

    let introspect = fact(&facts, "introspect");
    let access = &introspect["access"];
    assert_eq!(access["active"], true, "{access}");
    assert_eq!(access["client_id"], client.id, "{access}");
    assert_eq!(access["sub"], user.id, "{access}");
    assert_eq!(access["iss"], app.address, "{access}");
    assert_eq!(access["token_type"], "Bearer", "{access}");
    assert_eq!(
        access["scope"], "openid profile email offline_access",
        "{access}"
    );
    let refresh = &introspect["refresh"];
    assert_eq!(refresh["active"], true, "{refresh}");
    assert_eq!(refresh["token_type"], "refresh_token", "{refresh}");
    assert_eq!(refresh["sid"], access["sid"], "{refresh}");

    let foreign = fact(&facts, "foreign");
    assert_eq!(
        foreign["introspected"],
        json!({"active": false}),
        "{foreign}"
    );
    assert_eq!(foreign["stillActive"], true, "{foreign}");
    assert_eq!(fact(&facts, "wrong-secret")["error"], "invalid_client");

    let rotated = fact(&facts, "refresh");
    assert_eq!(rotated["oldActive"], false, "{rotated}");
    assert_eq!(rotated["newActive"], true, "{rotated}");
    let revoked = fact(&facts, "revoked");
    assert_eq!(revoked["refresh"], false, "{revoked}");
    assert_eq!(revoked["access"], false, "{revoked}");
    assert_eq!(revoked["userinfo"], 401, "{revoked}");
    assert_eq!(
        fact(&facts, "refresh-after-revoke")["error"],
        "invalid_grant"
    );
}

/// The tokens of a code flow driven over plain HTTP, as a back end would receive them.
struct Tokens {
    id_token: String,
    access_token: String,
}

/// authorize -> the login page's approval -> the code -> `/oauth2/token`
/// (client_secret_basic), with PKCE and a nonce.
async fn code_flow(app: &TestApp, client: &RegisteredClient, user: &User) -> Tokens {
    let verifier = URL_SAFE_NO_PAD
        .encode(uuid::Uuid::new_v4().as_bytes())
        .repeat(2);
    let challenge = URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()));
    let state = uuid::Uuid::new_v4().to_string();
    let authorize = app
        .client
        .get(app.url("/oauth2/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", &client.id),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid email profile"),
            ("state", &state),
            ("nonce", "a-nonce-of-the-go-app"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(authorize.status(), StatusCode::FOUND);
    let login = url::Url::parse(authorize.headers()["location"].to_str().unwrap()).unwrap();
    assert!(login.as_str().starts_with(LOGIN_URL), "{login}");
    let request_id = login
        .query_pairs()
        .find(|(k, _)| k == "request_id")
        .unwrap()
        .1
        .into_owned();
    let approval = app
        .client
        .post(app.url("/oauth2/login"))
        .bearer_auth(&user.access_token)
        .json(&json!({ "requestId": request_id }))
        .send()
        .await
        .unwrap();
    assert_eq!(approval.status(), StatusCode::OK);
    let approved: Value = approval.json().await.unwrap();
    let callback = url::Url::parse(approved["redirectUri"].as_str().unwrap()).unwrap();
    let query: HashMap<String, String> = callback.query_pairs().into_owned().collect();
    assert_eq!(query["state"], state);
    assert_eq!(query["iss"], app.address);
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", &query["code"])
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("code_verifier", &verifier)
        .finish();
    let response = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth(&client.id, client.secret.as_deref())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Value = response.json().await.unwrap();
    let tokens = Tokens {
        id_token: tokens["id_token"].as_str().unwrap().to_owned(),
        access_token: tokens["access_token"].as_str().unwrap().to_owned(),
    };
    audit_secret(&tokens.access_token);
    audit_secret(&tokens.id_token);
    tokens
}

/// go-oidc (Go): the ID token verified through discovery with `provider.Verifier`, its
/// at_hash against the access token, userinfo; the same user's ID token for another app
/// refused.
async fn go_oidc(backend: Backend) {
    let app = provider(backend).await;
    let user = user(&app).await;
    let client = register(&app, "go-oidc", false).await;
    let other = register(&app, "another app", false).await;
    let own = code_flow(&app, &client, &user).await;
    let foreign = code_flow(&app, &other, &user).await;
    let binary = tokio::task::spawn_blocking(go_binary).await.unwrap();
    let facts = run(
        binary,
        Vec::new(),
        rps_dir().join("go"),
        vec![
            ("TESSERA_URL", app.address.clone()),
            ("CLIENT_ID", client.id.clone()),
            ("ID_TOKEN", own.id_token),
            ("ACCESS_TOKEN", own.access_token),
            ("FOREIGN_ID_TOKEN", foreign.id_token),
        ],
    )
    .await;

    let verified = fact(&facts, "verified");
    assert_eq!(verified["sub"], user.id, "{verified}");
    assert_eq!(verified["email"], user.email, "{verified}");
    assert_eq!(verified["issuer"], app.address, "{verified}");
    assert_eq!(verified["audience"], json!([client.id]), "{verified}");
    assert_eq!(verified["nonce"], "a-nonce-of-the-go-app", "{verified}");
    assert_eq!(verified["algs"], json!(["ES256"]), "{verified}");
    let userinfo = fact(&facts, "userinfo");
    assert_eq!(userinfo["sub"], user.id, "{userinfo}");
    assert_eq!(userinfo["email"], user.email, "{userinfo}");
    let refused = fact(&facts, "foreign-refused");
    assert!(
        refused["reason"].as_str().unwrap().contains("audience"),
        "{refused}"
    );
}

both_backends!(openid_client, authlib, go_oidc);

/// Builds the go-oidc relying party offline from Debian's packages (once per run).
fn go_binary() -> String {
    static BUILT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let output = Command::new("bash")
                .arg(rps_dir().join("go/build.sh"))
                .output()
                .expect("bash runs");
            assert!(
                output.status.success(),
                "go build failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8(output.stdout)
                .unwrap()
                .trim()
                .lines()
                .last()
                .unwrap()
                .to_owned()
        })
        .clone()
}
