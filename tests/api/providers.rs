//! Sign-in with an OpenID Connect provider, end to end against a real one: npm's
//! `oidc-provider` (a certified implementation) on a loopback port, the browser played by
//! an HTTP client with a cookie jar that follows each redirect by hand. The provider's
//! callback is registered at the public URL (`http://localhost:4000/...`); the browser
//! sends it to the test server's address instead.

use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

use crate::both_backends;
use crate::helpers::{Backend, PASSWORD, TestApp, assert_error, unique_email};
use crate::lifecycle::{CHALLENGE, VERIFIER};
use crate::oidc_provider::{LoggedIn, OidcProvider, ProviderOptions, browser, cancel, log_in};

const APP: &str = "https://app.example.com/welcome";
const ADMIN_SECRET: &str = "an-admin-secret-of-at-least-32-characters";
const CALLBACK: &str = "http://localhost:4000/signin/provider/acme/callback";

/// The provider's accounts: Alice's email is verified, Mallory's is not.
fn accounts(verified: &str, unverified: &str) -> Value {
    json!([
        { "sub": "alice", "email": verified, "email_verified": true, "name": "Alice A" },
        { "sub": "mallory", "email": unverified, "email_verified": false, "name": "Mallory" },
    ])
}

/// A provider with these accounts, and Tessera configured with it as `acme`.
async fn setup(
    backend: Backend,
    accounts: Value,
    extra: &[(&str, &str)],
) -> (TestApp, OidcProvider) {
    let provider = OidcProvider::start(ProviderOptions::new(CALLBACK, accounts)).await;
    let mut vars = vec![
        ("TESSERA_OIDC_ACME_ISSUER", provider.issuer.as_str()),
        ("TESSERA_OIDC_ACME_CLIENT_ID", "tessera-test"),
        ("TESSERA_OIDC_ACME_CLIENT_SECRET", "tessera-test-secret"),
        ("TESSERA_ALLOWED_REDIRECT_URLS", "https://app.example.com"),
    ];
    vars.extend_from_slice(extra);
    (TestApp::spawn_with(backend, &vars).await, provider)
}

/// `GET /signin/provider/acme` in `browser`: the provider's authorization URL.
async fn begin(app: &TestApp, browser: &reqwest::Client) -> String {
    let response = browser
        .get(app.url("/signin/provider/acme"))
        .query(&[("redirectTo", APP), ("codeChallenge", CHALLENGE)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("tessera-provider-flow="))
        .expect("the flow cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    location(&response)
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// Sends `browser` to Tessera's callback (a redirect there, or a `form_post`); answers
/// where Tessera sends it next: the app's URL.
async fn back_to_tessera(app: &TestApp, browser: &reqwest::Client, answer: LoggedIn) -> Url {
    let response = match answer {
        LoggedIn::Redirect(url) => browser.get(on_app(app, &url)).send().await.unwrap(),
        LoggedIn::FormPost { action, fields } => {
            let posted = browser
                .post(on_app(app, &action))
                .form(&fields)
                .send()
                .await
                .unwrap();
            assert_eq!(posted.status(), StatusCode::SEE_OTHER);
            let next = Url::parse(&location(&posted)).unwrap();
            browser.get(on_app(app, &next)).send().await.unwrap()
        }
    };
    assert_eq!(
        response.status(),
        StatusCode::FOUND,
        "{:?}",
        response.text().await
    );
    Url::parse(&location(&response)).unwrap()
}

/// `url`'s path and query on the test server.
fn on_app(app: &TestApp, url: &Url) -> String {
    format!(
        "{}{}?{}",
        app.address,
        url.path(),
        url.query().unwrap_or_default()
    )
}

fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A whole browser sign-in as `login`: where the app is sent at the end.
async fn sign_in_as(app: &TestApp, login: &str) -> Url {
    let browser = browser();
    let authorize = begin(app, &browser).await;
    let answer = log_in(&browser, &authorize, login).await;
    back_to_tessera(app, &browser, answer).await
}

/// `POST /token/exchange` with the code the app got.
async fn exchange(app: &TestApp, landed: &Url) -> Value {
    assert!(landed.as_str().starts_with(APP), "{landed}");
    let code = param(landed, "code").unwrap_or_else(|| panic!("a code: {landed}"));
    let response = app
        .post_json(
            "/token/exchange",
            &json!({ "code": code, "codeVerifier": VERIFIER }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn error_of(landed: &Url) -> String {
    assert!(landed.as_str().starts_with(APP), "{landed}");
    assert!(param(landed, "code").is_none(), "{landed}");
    param(landed, "error").unwrap_or_else(|| panic!("an error: {landed}"))
}

async fn providers_of(app: &TestApp, access_token: &str) -> Value {
    let response = app
        .client
        .get(app.url("/user/providers"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["providers"].clone()
}

both_backends!(
    a_provider_signs_up_then_signs_in_the_same_account,
    a_verified_provider_email_takes_over_an_unverified_account_and_an_unverified_one_is_refused,
    a_state_is_single_use_and_bound_to_its_browser,
    an_id_token_from_the_provider_signs_in_with_its_nonce,
);

async fn a_provider_signs_up_then_signs_in_the_same_account(backend: Backend) {
    let email = unique_email();
    let admin = ("TESSERA_ADMIN_SECRET", ADMIN_SECRET);
    let (app, _provider) = setup(backend, accounts(&email, "m@example.test"), &[admin]).await;
    let first = exchange(&app, &sign_in_as(&app, "alice").await).await;
    let user = &first["session"]["user"];
    assert_eq!(user["email"], email.as_str());
    assert_eq!(
        user["emailVerified"], true,
        "the provider says it verified the email"
    );
    assert_eq!(user["displayName"], "Alice A");
    let again = exchange(&app, &sign_in_as(&app, "alice").await).await;
    assert_eq!(
        again["session"]["user"]["id"], user["id"],
        "the same account"
    );
    let token = again["session"]["accessToken"].as_str().unwrap();
    let linked = providers_of(&app, token).await;
    assert_eq!(linked.as_array().unwrap().len(), 1);
    assert_eq!(linked[0]["provider"], "acme");
    let id = user["id"].as_str().unwrap();
    let seen: Value = app
        .client
        .get(app.url(&format!("/admin/users/{id}/providers")))
        .header("x-tessera-admin-secret", ADMIN_SECRET)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        seen["providers"], linked,
        "the admin sees the same identity"
    );
    // The only way into this account: unlinking it is refused.
    let response = app
        .client
        .delete(app.url("/user/providers/acme"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::FORBIDDEN, "last-sign-in-method").await;
    app.stop().await;
}

async fn a_verified_provider_email_takes_over_an_unverified_account_and_an_unverified_one_is_refused(
    backend: Backend,
) {
    use crate::oidc_provider::native_id_token;
    let (verified, unverified) = (unique_email(), unique_email());
    let (app, provider) = setup(backend, accounts(&verified, &unverified), &[]).await;
    // Someone registered both addresses with a password, without proving either mailbox,
    // and linked an identity of their own to the first account.
    let squatter = app.sign_up(&verified).await;
    app.sign_up(&unverified).await;
    let squatters_identity = native_id_token(&provider, "mallory", None).await;
    let linked = app
        .client
        .post(app.url("/link/idtoken"))
        .bearer_auth(squatter["accessToken"].as_str().unwrap())
        .json(&json!({ "provider": "acme", "idToken": squatters_identity }))
        .send()
        .await
        .unwrap();
    assert_eq!(linked.status(), StatusCode::OK);
    // The provider proves Alice holds the first: she gets the account, alone.
    let taken = exchange(&app, &sign_in_as(&app, "alice").await).await;
    assert_eq!(taken["session"]["user"]["id"], squatter["user"]["id"]);
    assert_eq!(taken["session"]["user"]["emailVerified"], true);
    let old_refresh = squatter["refreshToken"].as_str().unwrap();
    assert_eq!(
        app.refresh(old_refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let password = app
        .post_json(
            "/signin/email-password",
            &json!({ "email": verified, "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        password.status(),
        StatusCode::UNAUTHORIZED,
        "the squatter's password is gone"
    );
    let token = taken["session"]["accessToken"].as_str().unwrap();
    let identities = providers_of(&app, token).await;
    assert_eq!(identities.as_array().unwrap().len(), 1, "{identities}");
    assert_eq!(
        identities[0]["email"],
        verified.as_str(),
        "the squatter's identity is gone"
    );
    // The provider does not vouch for Mallory's address: never linked.
    let refused = sign_in_as(&app, "mallory").await;
    assert_eq!(error_of(&refused), "account-exists");
    assert!(param(&refused, "errorDescription").is_some());
    app.stop().await;
}

async fn a_state_is_single_use_and_bound_to_its_browser(backend: Backend) {
    let (app, _provider) = setup(backend, accounts(&unique_email(), "m@example.test"), &[]).await;
    let victim = browser();
    let authorize = begin(&app, &victim).await;
    let LoggedIn::Redirect(callback) = log_in(&victim, &authorize, "alice").await else {
        panic!("a redirect");
    };
    // Another browser (an attacker's, or a forged link) cannot finish it, and spends it.
    let other = browser();
    let response = other.get(on_app(&app, &callback)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        error_of(&Url::parse(&location(&response)).unwrap()),
        "invalid-state"
    );
    // Replayed, even by the browser that began it: no such flow any more.
    let replay = victim.get(on_app(&app, &callback)).send().await.unwrap();
    assert_error(replay, StatusCode::BAD_REQUEST, "invalid-state").await;
    app.stop().await;
}

async fn an_id_token_from_the_provider_signs_in_with_its_nonce(backend: Backend) {
    use crate::oidc_provider::native_id_token;
    let email = unique_email();
    let (app, provider) = setup(backend, accounts(&email, "m@example.test"), &[]).await;
    let nonce = "a-nonce-the-app-made";
    let hashed = tessera::domain::providers::nonce_hash(nonce);
    let token = native_id_token(&provider, "alice", Some(&hashed)).await;
    let signed_in = app
        .post_json(
            "/signin/idtoken",
            &json!({ "provider": "acme", "idToken": token, "nonce": nonce }),
        )
        .await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let body: Value = signed_in.json().await.unwrap();
    assert_eq!(body["session"]["user"]["email"], email.as_str());
    for wrong in [json!("another-nonce"), Value::Null] {
        let response = app
            .post_json(
                "/signin/idtoken",
                &json!({ "provider": "acme", "idToken": token, "nonce": wrong }),
            )
            .await;
        assert_error(response, StatusCode::UNAUTHORIZED, "provider-error").await;
    }
    // One character of the signature changed (not its last, whose low bits are padding).
    let mut forged = token.clone().into_bytes();
    let at = token.rfind('.').unwrap() + 10;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let response = app
        .post_json(
            "/signin/idtoken",
            &json!({ "provider": "acme", "idToken": forged, "nonce": nonce }),
        )
        .await;
    assert_error(response, StatusCode::UNAUTHORIZED, "provider-error").await;
    let unknown = app
        .post_json(
            "/signin/idtoken",
            &json!({ "provider": "nope", "idToken": token }),
        )
        .await;
    assert_error(unknown, StatusCode::NOT_FOUND, "unknown-provider").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_the_provider_did_not_get_from_tessera_is_refused() {
    let (app, provider) = setup(
        Backend::Postgres,
        accounts(&unique_email(), "m@example.test"),
        &[],
    )
    .await;
    provider.tamper_next_nonce("not-the-one-tessera-sent").await;
    let landed = sign_in_as(&app, "alice").await;
    assert_eq!(error_of(&landed), "provider-error");
    assert!(
        param(&landed, "errorDescription")
            .unwrap()
            .contains("nonce"),
        "{landed}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_providers_new_signing_key_is_picked_up() {
    let (app, mut provider) = setup(
        Backend::Postgres,
        accounts(&unique_email(), "m@example.test"),
        &[],
    )
    .await;
    let first = exchange(&app, &sign_in_as(&app, "alice").await).await;
    // Same issuer, new key: Tessera's cached keys know only the old one.
    provider.restart_with_key("k2").await;
    let second = exchange(&app, &sign_in_as(&app, "alice").await).await;
    assert_eq!(
        second["session"]["user"]["id"],
        first["session"]["user"]["id"]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_is_down_is_a_clear_error_to_the_app() {
    let (app, mut provider) = setup(
        Backend::Sqlite,
        accounts(&unique_email(), "m@example.test"),
        &[],
    )
    .await;
    // Down at the callback: the token endpoint cannot be reached.
    let browser_a = browser();
    let authorize = begin(&app, &browser_a).await;
    let answer = log_in(&browser_a, &authorize, "alice").await;
    provider.stop().await;
    let landed = back_to_tessera(&app, &browser_a, answer).await;
    assert_eq!(error_of(&landed), "provider-unavailable");
    // Down before anything was fetched: a new server cannot even discover it.
    let (fresh, mut gone) = setup(
        Backend::Sqlite,
        accounts(&unique_email(), "m@example.test"),
        &[],
    )
    .await;
    gone.stop().await;
    let response = browser()
        .get(fresh.url("/signin/provider/acme"))
        .query(&[("redirectTo", APP), ("codeChallenge", CHALLENGE)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let landed = Url::parse(&location(&response)).unwrap();
    assert_eq!(error_of(&landed), "provider-unavailable");
    fresh.stop().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_served_only_at_userinfo_is_read_there() {
    let email = unique_email();
    let mut options = ProviderOptions::new(CALLBACK, accounts(&email, "m@example.test"));
    options.minimal_id_token = true;
    let provider = OidcProvider::start(options).await;
    let vars = [
        ("TESSERA_OIDC_ACME_ISSUER", provider.issuer.as_str()),
        ("TESSERA_OIDC_ACME_CLIENT_ID", "tessera-test"),
        ("TESSERA_OIDC_ACME_CLIENT_SECRET", "tessera-test-secret"),
        ("TESSERA_ALLOWED_REDIRECT_URLS", "https://app.example.com"),
    ];
    let app = TestApp::spawn_with(Backend::Sqlite, &vars).await;
    let session = exchange(&app, &sign_in_as(&app, "alice").await).await;
    let user = &session["session"]["user"];
    assert_eq!(user["email"], email.as_str(), "the ID token had no email");
    assert_eq!(user["emailVerified"], true);
    assert_eq!(user["displayName"], "Alice A");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_post_callback_signs_in() {
    let email = unique_email();
    let (app, _provider) = setup(
        Backend::Postgres,
        accounts(&email, "m@example.test"),
        &[("TESSERA_OIDC_ACME_RESPONSE_MODE", "form_post")],
    )
    .await;
    let browser = browser();
    let authorize = begin(&app, &browser).await;
    let answer = log_in(&browser, &authorize, "alice").await;
    assert!(matches!(answer, LoggedIn::FormPost { .. }), "{answer:?}");
    let session = exchange(&app, &back_to_tessera(&app, &browser, answer).await).await;
    assert_eq!(session["session"]["user"]["email"], email.as_str());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_at_the_provider_and_bad_starts_are_reported() {
    let (app, _provider) = setup(
        Backend::Sqlite,
        accounts(&unique_email(), "m@example.test"),
        &[],
    )
    .await;
    let browser = browser();
    let authorize = begin(&app, &browser).await;
    let back = cancel(&browser, &authorize).await;
    let landed = back_to_tessera(&app, &browser, LoggedIn::Redirect(back)).await;
    assert_eq!(error_of(&landed), "cancelled");
    // A redirect that is not allowed: nothing is sent to the provider.
    let response = browser
        .get(app.url("/signin/provider/acme"))
        .query(&[
            ("redirectTo", "https://evil.example.net/"),
            ("codeChallenge", CHALLENGE),
        ])
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::BAD_REQUEST, "redirect-not-allowed").await;
    // No PKCE challenge: reported to the app, before the provider.
    let response = browser
        .get(app.url("/signin/provider/acme"))
        .query(&[("redirectTo", APP)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(&Url::parse(&location(&response)).unwrap()),
        "invalid-request"
    );
    let unknown = browser
        .get(app.url("/signin/provider/nope"))
        .send()
        .await
        .unwrap();
    assert_error(unknown, StatusCode::NOT_FOUND, "unknown-provider").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_user_links_and_unlinks_an_identity() {
    use crate::oidc_provider::native_id_token;
    let (own, other) = (unique_email(), unique_email());
    let admin = ("TESSERA_ADMIN_SECRET", ADMIN_SECRET);
    let (app, provider) = setup(
        Backend::Postgres,
        accounts(&other, "m@example.test"),
        &[admin],
    )
    .await;
    let account = app.sign_up(&own).await;
    let token = account["accessToken"].as_str().unwrap().to_owned();
    let id_token = native_id_token(&provider, "alice", None).await;
    let linked = app
        .client
        .post(app.url("/link/idtoken"))
        .bearer_auth(&token)
        .json(&json!({ "provider": "acme", "idToken": id_token }))
        .send()
        .await
        .unwrap();
    assert_eq!(linked.status(), StatusCode::OK);
    // Alice's identity now signs in to this account, whatever its email.
    let signed_in: Value = app
        .post_json(
            "/signin/idtoken",
            &json!({ "provider": "acme", "idToken": id_token }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(signed_in["session"]["user"]["id"], account["user"]["id"]);
    // A second account cannot take the same identity.
    let second = app.sign_up(&unique_email()).await;
    let taken = app
        .client
        .post(app.url("/link/idtoken"))
        .bearer_auth(second["accessToken"].as_str().unwrap())
        .json(&json!({ "provider": "acme", "idToken": id_token }))
        .send()
        .await
        .unwrap();
    assert_error(taken, StatusCode::CONFLICT, "provider-already-linked").await;
    let unlinked = app
        .client
        .delete(app.url("/user/providers/acme"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        unlinked.status(),
        StatusCode::OK,
        "the account keeps its password"
    );
    assert_eq!(providers_of(&app, &token).await, json!([]));
    // The security log tells the story.
    let id = account["user"]["id"].as_str().unwrap();
    let events: Value = app
        .client
        .get(app.url(&format!("/admin/events?userId={id}&limit=50")))
        .header("x-tessera-admin-secret", ADMIN_SECRET)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<(String, Value)> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap().to_owned(), e["detail"].clone()))
        .collect();
    let has = |kind: &str, detail: Value| {
        kinds.iter().any(|(k, d)| {
            k == kind
                && detail
                    .as_object()
                    .unwrap()
                    .iter()
                    .all(|(key, value)| &d[key] == value)
        })
    };
    assert!(
        has(
            "provider-linked",
            json!({ "provider": "acme", "by": "user" })
        ),
        "{kinds:?}"
    );
    assert!(
        has(
            "signin-succeeded",
            json!({ "method": "provider", "provider": "acme" })
        ),
        "{kinds:?}"
    );
    assert!(
        has(
            "provider-unlinked",
            json!({ "provider": "acme", "by": "user" })
        ),
        "{kinds:?}"
    );
    app.stop().await;
}

/// GitHub's sign-in (OAuth 2.0 and its REST API, not OpenID Connect), against the local
/// stand-in of `github_standin` (GitHub itself cannot be reached from the test machine).
mod github {
    use super::*;
    use crate::github_standin::{GithubEmail, GithubStandin, GithubUser, follow_authorize};

    const GITHUB_CALLBACK: &str = "http://localhost:4000/signin/provider/github/callback";

    fn octocat(email: &str, verified: bool) -> GithubUser {
        GithubUser {
            id: 583231,
            login: "octocat".into(),
            name: Some("The Octocat".into()),
            public_email: None,
            emails: vec![GithubEmail {
                email: email.into(),
                primary: true,
                verified,
            }],
        }
    }

    async fn setup(backend: Backend, user: GithubUser) -> (TestApp, GithubStandin) {
        let github =
            GithubStandin::start("Iv1.tessera", "github-secret", GITHUB_CALLBACK, user).await;
        let vars = [
            ("TESSERA_GITHUB_CLIENT_ID", "Iv1.tessera"),
            ("TESSERA_GITHUB_CLIENT_SECRET", "github-secret"),
            ("TESSERA_GITHUB_URL", github.web_url.as_str()),
            ("TESSERA_GITHUB_API_URL", github.api_url.as_str()),
            ("TESSERA_ALLOWED_REDIRECT_URLS", "https://app.example.com"),
        ];
        (TestApp::spawn_with(backend, &vars).await, github)
    }

    async fn sign_in_with_github(app: &TestApp) -> Url {
        let browser = browser();
        let response = browser
            .get(app.url("/signin/provider/github"))
            .query(&[("redirectTo", APP), ("codeChallenge", CHALLENGE)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FOUND);
        let back = follow_authorize(&browser, &location(&response)).await;
        back_to_tessera(app, &browser, LoggedIn::Redirect(back)).await
    }

    both_backends!(github_signs_up_then_signs_in_by_its_user_id);

    async fn github_signs_up_then_signs_in_by_its_user_id(backend: Backend) {
        let email = unique_email();
        let (app, github) = setup(backend, octocat(&email, true)).await;
        let first = exchange(&app, &sign_in_with_github(&app).await).await;
        assert_eq!(first["session"]["user"]["email"], email.as_str());
        assert_eq!(first["session"]["user"]["emailVerified"], true);
        assert_eq!(first["session"]["user"]["displayName"], "The Octocat");
        // A new address at GitHub: the same account, found by GitHub's user id.
        github.set_user(octocat(&unique_email(), true));
        let again = exchange(&app, &sign_in_with_github(&app).await).await;
        assert_eq!(
            again["session"]["user"]["id"],
            first["session"]["user"]["id"]
        );
        let exchanges = github
            .requests()
            .iter()
            .filter(|r| r.as_str() == "POST /login/oauth/access_token")
            .count();
        assert_eq!(exchanges, 2, "one code exchange per sign-in");
        app.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unverified_github_email_never_links_and_a_refusal_is_a_cancel() {
        let email = unique_email();
        let (app, github) = setup(Backend::Sqlite, octocat(&email, false)).await;
        app.sign_up(&email).await;
        assert_eq!(error_of(&sign_in_with_github(&app).await), "account-exists");
        github.deny_next();
        assert_eq!(error_of(&sign_in_with_github(&app).await), "cancelled");
        app.stop().await;
    }
}
