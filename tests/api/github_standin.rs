//! A local stand-in for GitHub's OAuth 2.0 web application flow and the two REST endpoints a
//! sign-in needs, for the tests of Tessera's GitHub sign-in (GitHub cannot be reached from the
//! test machines).
//!
//! It follows GitHub's documented endpoints and JSON exactly, from these pages of GitHub's
//! documentation:
//! - "Authorizing OAuth apps", web application flow: `GET /login/oauth/authorize` (with PKCE,
//!   `code_challenge_method=S256` only) and `POST /login/oauth/access_token`, which answers
//!   form-encoded by default and JSON with `Accept: application/json`, and answers its errors
//!   (`incorrect_client_credentials`, `redirect_uri_mismatch`, `bad_verification_code`) with
//!   HTTP 200, as listed in "Troubleshooting OAuth app access token request errors";
//! - "Troubleshooting authorization request errors": a refusal comes back to the callback as
//!   `error=access_denied&error_description=…&error_uri=…&state=…`;
//! - REST "Get the authenticated user" (`GET /user`) and "List email addresses for the
//!   authenticated user" (`GET /user/emails`, needs the `user:email` scope), with
//!   `Authorization: Bearer <token>` (or the older `token <token>`); a bad token is a 401
//!   `{"message":"Bad credentials",…}`, and a request without `User-Agent` is a 403, as GitHub
//!   requires one ("User agent required").
//!
//! It is laid out like GitHub Enterprise Server: the web base is `web_url`
//! (`TESSERA_GITHUB_URL`) and the REST API is under `api_url` = `<web_url>/api/v3`
//! (`TESSERA_GITHUB_API_URL`). The user's consent is stood in for: the authorize endpoint
//! answers at once with the redirect GitHub sends after the user clicks "Authorize" (or
//! "Cancel", after [`GithubStandin::deny_next`]).
//!
//! Where GitHub documents a rule but not the shape of its answer, the stand-in is strict and
//! says so: a PKCE verifier that does not match is answered like a bad code (and the code is
//! spent), and a malformed PKCE request at the authorize endpoint is a plain 400 page. The
//! registered callback is matched exactly (GitHub's matching with wildcard matching turned off).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// The GitHub account the stand-in signs in as.
#[derive(Debug, Clone)]
pub struct GithubUser {
    pub id: u64,
    pub login: String,
    pub name: Option<String>,
    /// The email shown on the profile (`email` in `GET /user`); `None` when kept private.
    pub public_email: Option<String>,
    /// What `GET /user/emails` lists, in this order.
    pub emails: Vec<GithubEmail>,
}

/// One of the account's email addresses.
#[derive(Debug, Clone)]
pub struct GithubEmail {
    pub email: String,
    pub primary: bool,
    pub verified: bool,
}

/// A running stand-in; stops when dropped.
pub struct GithubStandin {
    /// The web base, `http://127.0.0.1:PORT` (GitHub's `https://github.com`).
    pub web_url: String,
    /// The REST API base, `<web_url>/api/v3` (GitHub's `https://api.github.com`).
    pub api_url: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

/// GitHub's authorization codes expire after ten minutes.
const CODE_LIFETIME: Duration = Duration::from_secs(600);
const DOCS: &str = "https://docs.github.com";
const USER_AGENT_REQUIRED: &str = "Request forbidden by administrative rules. Please make sure \
    your request has a User-Agent header \
    (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). \
    Check https://developer.github.com for other possible causes.\n";

struct Shared {
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    web_url: String,
    api_url: String,
    state: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    current_user: u64,
    users: HashMap<u64, GithubUser>,
    deny_next: bool,
    codes: HashMap<String, Grant>,
    tokens: HashMap<String, Token>,
    requests: Vec<String>,
}

struct Grant {
    client_id: String,
    redirect_uri: String,
    code_challenge: Option<String>,
    user_id: u64,
    scopes: Vec<String>,
    issued: Instant,
}

struct Token {
    user_id: u64,
    scopes: Vec<String>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.state.lock().unwrap()
    }
}

impl GithubStandin {
    /// Serves one registered OAuth app (`client_id`, `client_secret`, its callback URL
    /// `redirect_uri`) on a free loopback port, signing in as `user`.
    pub async fn start(
        client_id: &str,
        client_secret: &str,
        redirect_uri: &str,
        user: GithubUser,
    ) -> GithubStandin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let web_url = format!("http://{}", listener.local_addr().unwrap());
        let api_url = format!("{web_url}/api/v3");
        let mut inner = Inner {
            current_user: user.id,
            ..Inner::default()
        };
        inner.users.insert(user.id, user);
        let shared = Arc::new(Shared {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            web_url: web_url.clone(),
            api_url: api_url.clone(),
            state: Mutex::new(inner),
        });
        let api = Router::new()
            .route("/user", get(get_user))
            .route("/user/emails", get(list_emails))
            .layer(middleware::from_fn(require_user_agent));
        let app = Router::new()
            .route("/login/oauth/authorize", get(authorize))
            .route("/login/oauth/access_token", post(access_token))
            .nest("/api/v3", api)
            .fallback(not_found)
            .layer(middleware::from_fn_with_state(shared.clone(), record))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        GithubStandin {
            web_url,
            api_url,
            shared,
            task,
        }
    }

    /// Signs in as `user` from the next authorization on. Tokens already issued keep their
    /// account, whose details are replaced if `user.id` is theirs.
    pub fn set_user(&self, user: GithubUser) {
        let mut state = self.shared.lock();
        state.current_user = user.id;
        state.users.insert(user.id, user);
    }

    /// The next authorization is refused, as when the user clicks "Cancel".
    pub fn deny_next(&self) {
        self.shared.lock().deny_next = true;
    }

    /// Method and path (no query) of each request received, in order, e.g.
    /// `POST /login/oauth/access_token` or `GET /api/v3/user`.
    pub fn requests(&self) -> Vec<String> {
        self.shared.lock().requests.clone()
    }
}

impl Drop for GithubStandin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The browser's visit to the authorize URL (as the relying party sent it there): GETs it with
/// `browser`, which must not follow redirects, and returns where GitHub sends the browser
/// back: the callback with `code` and `state`, or with `error`.
pub async fn follow_authorize(browser: &reqwest::Client, authorize_url: &str) -> url::Url {
    let response = browser.get(authorize_url).send().await.unwrap();
    let status = response.status();
    if status.is_redirection() {
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .expect("a redirect has a Location")
            .to_str()
            .unwrap();
        return url::Url::parse(authorize_url)
            .unwrap()
            .join(location)
            .unwrap();
    }
    let url = response.url().clone();
    let body = response.text().await.unwrap_or_default();
    panic!(
        "no redirect from the authorize endpoint (ended at {url} with {status}; \
         follow_authorize needs a client built with redirect::Policy::none()): {body}"
    );
}

/// Any other path (before the recording layer, so that a wrong path shows in `requests()`).
async fn not_found() -> Response {
    api_error(StatusCode::NOT_FOUND, "Not Found", &format!("{DOCS}/rest"))
}

async fn record(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let line = format!("{} {}", request.method(), request.uri().path());
    shared.lock().requests.push(line);
    next.run(request).await
}

async fn require_user_agent(request: Request, next: Next) -> Response {
    if request.headers().contains_key(header::USER_AGENT) {
        next.run(request).await
    } else {
        (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            USER_AGENT_REQUIRED,
        )
            .into_response()
    }
}

/// `GET /login/oauth/authorize`: what GitHub does once the user has answered the consent page.
async fn authorize(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if query.get("client_id") != Some(&shared.client_id) {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!DOCTYPE html><html><body><h1>404</h1><p>Not Found</p></body></html>",
        )
            .into_response();
    }
    let state = query.get("state").map(String::as_str);
    let redirect_uri = match query.get("redirect_uri") {
        None => shared.redirect_uri.clone(),
        Some(uri) if *uri == shared.redirect_uri => uri.clone(),
        Some(_) => {
            // GitHub sends the browser to the registered callback with the error.
            return redirect_error(
                &shared.redirect_uri,
                "redirect_uri_mismatch",
                "The redirect_uri MUST match the registered callback URL for this application.",
                "redirect-uri-mismatch",
                state,
            );
        }
    };
    let challenge = query.get("code_challenge");
    let method = query.get("code_challenge_method");
    let malformed = match (challenge, method) {
        (None, None) => None,
        (Some(challenge), Some(method)) if method == "S256" => (challenge.len() != 43
            || URL_SAFE_NO_PAD.decode(challenge).is_err())
        .then_some("code_challenge must be 43 characters of base64url (S256)"),
        (Some(_), Some(_)) => Some("code_challenge_method must be S256 (plain is not supported)"),
        (Some(_), None) => Some("code_challenge_method is required with code_challenge"),
        (None, Some(_)) => Some("code_challenge is required with code_challenge_method"),
    };
    if let Some(reason) = malformed {
        return (StatusCode::BAD_REQUEST, reason).into_response();
    }
    let mut inner = shared.lock();
    if std::mem::take(&mut inner.deny_next) {
        return redirect_error(
            &redirect_uri,
            "access_denied",
            "The user has denied your application access.",
            "access-denied",
            state,
        );
    }
    let code = random_string(20, b"0123456789abcdef");
    let grant = Grant {
        client_id: shared.client_id.clone(),
        redirect_uri: redirect_uri.clone(),
        code_challenge: challenge.cloned(),
        user_id: inner.current_user,
        scopes: scopes(query.get("scope").map_or("", String::as_str)),
        issued: Instant::now(),
    };
    inner.codes.insert(code.clone(), grant);
    let mut back = url::Url::parse(&redirect_uri).expect("the registered callback is a URL");
    back.query_pairs_mut().append_pair("code", &code);
    if let Some(state) = state {
        back.query_pairs_mut().append_pair("state", state);
    }
    found(back.as_str())
}

fn redirect_error(
    redirect_uri: &str,
    error: &str,
    description: &str,
    anchor: &str,
    state: Option<&str>,
) -> Response {
    let mut back = url::Url::parse(redirect_uri).expect("the registered callback is a URL");
    back.query_pairs_mut()
        .append_pair("error", error)
        .append_pair("error_description", description)
        .append_pair(
            "error_uri",
            &format!(
                "{DOCS}/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#{anchor}"
            ),
        );
    if let Some(state) = state {
        back.query_pairs_mut().append_pair("state", state);
    }
    found(back.as_str())
}

fn found(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

/// Space- or comma-delimited scopes, as GitHub takes them.
fn scopes(requested: &str) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in requested.split([' ', ',']).filter(|s| !s.is_empty()) {
        if !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_owned());
        }
    }
    scopes
}

/// `POST /login/oauth/access_token`: the code exchange.
async fn access_token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let params = token_params(&headers, &body);
    let param = |name: &str| params.get(name).map(String::as_str);
    let (client_id, client_secret) = basic_credentials(&headers)
        .map(|(id, secret)| (Some(id), Some(secret)))
        .unwrap_or((
            param("client_id").map(str::to_owned),
            param("client_secret").map(str::to_owned),
        ));
    if client_id.as_deref() != Some(&shared.client_id)
        || client_secret.as_deref() != Some(&shared.client_secret)
    {
        return token_error(
            json,
            "incorrect_client_credentials",
            "The client_id and/or client_secret passed are incorrect.",
            "incorrect-client-credentials",
        );
    }
    let bad_code = || {
        token_error(
            json,
            "bad_verification_code",
            "The code passed is incorrect or expired.",
            "bad-verification-code",
        )
    };
    let mut inner = shared.lock();
    // Spent on any use, right or wrong: a code is good for one try.
    let Some(grant) = param("code").and_then(|code| inner.codes.remove(code)) else {
        return bad_code();
    };
    if grant.client_id != shared.client_id || grant.issued.elapsed() > CODE_LIFETIME {
        return bad_code();
    }
    if param("redirect_uri").is_some_and(|uri| uri != grant.redirect_uri) {
        return token_error(
            json,
            "redirect_uri_mismatch",
            "The redirect_uri MUST match the registered callback URL for this application.",
            "redirect-uri-mismatch2",
        );
    }
    if let Some(challenge) = &grant.code_challenge {
        let proved = param("code_verifier").is_some_and(|verifier| {
            URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes())) == *challenge
        });
        if !proved {
            return bad_code();
        }
    }
    let access_token = format!(
        "gho_{}",
        random_string(
            36,
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        )
    );
    let scope = grant.scopes.join(",");
    inner.tokens.insert(
        access_token.clone(),
        Token {
            user_id: grant.user_id,
            scopes: grant.scopes,
        },
    );
    drop(inner);
    if json {
        axum::Json(json!({
            "access_token": access_token,
            "token_type": "bearer",
            "scope": scope,
        }))
        .into_response()
    } else {
        form_response(&[
            ("access_token", &access_token),
            ("scope", &scope),
            ("token_type", "bearer"),
        ])
    }
}

/// The exchange's parameters: a form body (what GitHub documents) or a JSON one.
fn token_params(headers: &HeaderMap, body: &[u8]) -> HashMap<String, String> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        value
            .as_object()
            .map(|object| {
                object
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        url::form_urlencoded::parse(body).into_owned().collect()
    }
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// An error of the exchange: HTTP 200, as GitHub answers them.
fn token_error(json: bool, error: &str, description: &str, anchor: &str) -> Response {
    let uri = format!(
        "{DOCS}/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#{anchor}"
    );
    if json {
        axum::Json(json!({
            "error": error,
            "error_description": description,
            "error_uri": uri,
        }))
        .into_response()
    } else {
        form_response(&[
            ("error", error),
            ("error_description", description),
            ("error_uri", &uri),
        ])
    }
}

fn form_response(pairs: &[(&str, &str)]) -> Response {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    (
        [(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// The account and scopes behind the request's token, or GitHub's 401.
fn authenticate(shared: &Shared, headers: &HeaderMap, docs: &str) -> Result<Token, Box<Response>> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(Box::new(api_error(
            StatusCode::UNAUTHORIZED,
            "Requires authentication",
            docs,
        )));
    };
    let token = value.to_str().ok().and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        let known = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token");
        known.then(|| token.trim().to_owned())
    });
    let inner = shared.lock();
    match token.and_then(|t| inner.tokens.get(&t)) {
        Some(token) => Ok(Token {
            user_id: token.user_id,
            scopes: token.scopes.clone(),
        }),
        None => Err(Box::new(api_error(
            StatusCode::UNAUTHORIZED,
            "Bad credentials",
            &format!("{DOCS}/rest"),
        ))),
    }
}

fn api_error(status: StatusCode, message: &str, docs: &str) -> Response {
    let body = json!({
        "message": message,
        "documentation_url": docs,
        "status": status.as_u16().to_string(),
    });
    (status, axum::Json(body)).into_response()
}

/// A REST answer, with the headers GitHub adds for an OAuth token.
fn api_json(token: &Token, body: Value) -> Response {
    (
        [
            ("x-oauth-scopes", token.scopes.join(", ")),
            ("x-github-media-type", "github.v3; format=json".to_owned()),
        ],
        axum::Json(body),
    )
        .into_response()
}

/// REST "Get the authenticated user".
async fn get_user(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let docs = format!("{DOCS}/rest/users/users#get-the-authenticated-user");
    let token = match authenticate(&shared, &headers, &docs) {
        Ok(token) => token,
        Err(response) => return *response,
    };
    let user = shared.lock().users[&token.user_id].clone();
    let (web, api, login, id) = (&shared.web_url, &shared.api_url, &user.login, user.id);
    let body = json!({
        "login": login,
        "id": id,
        "node_id": STANDARD.encode(format!("04:User{id}")),
        "avatar_url": format!("{web}/avatars/u/{id}?v=4"),
        "gravatar_id": "",
        "url": format!("{api}/users/{login}"),
        "html_url": format!("{web}/{login}"),
        "followers_url": format!("{api}/users/{login}/followers"),
        "following_url": format!("{api}/users/{login}/following{{/other_user}}"),
        "gists_url": format!("{api}/users/{login}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/users/{login}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/users/{login}/subscriptions"),
        "organizations_url": format!("{api}/users/{login}/orgs"),
        "repos_url": format!("{api}/users/{login}/repos"),
        "events_url": format!("{api}/users/{login}/events{{/privacy}}"),
        "received_events_url": format!("{api}/users/{login}/received_events"),
        "type": "User",
        "user_view_type": "private",
        "site_admin": false,
        "name": user.name,
        "company": null,
        "blog": "",
        "location": null,
        "email": user.public_email,
        "hireable": null,
        "bio": null,
        "twitter_username": null,
        "public_repos": 0,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": "2020-01-01T00:00:00Z",
        "updated_at": "2020-01-01T00:00:00Z",
    });
    api_json(&token, body)
}

/// REST "List email addresses for the authenticated user" (scope `user:email` or `user`).
async fn list_emails(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let docs = format!("{DOCS}/rest/users/emails#list-email-addresses-for-the-authenticated-user");
    let token = match authenticate(&shared, &headers, &docs) {
        Ok(token) => token,
        Err(response) => return *response,
    };
    if !token
        .scopes
        .iter()
        .any(|s| s == "user:email" || s == "user")
    {
        return api_error(StatusCode::NOT_FOUND, "Not Found", &docs);
    }
    let user = shared.lock().users[&token.user_id].clone();
    let emails: Vec<Value> = user
        .emails
        .iter()
        .map(|e| {
            // Only the primary address has a visibility; it is public when on the profile.
            let visibility = e.primary.then(|| {
                if user.public_email.as_deref() == Some(e.email.as_str()) {
                    "public"
                } else {
                    "private"
                }
            });
            json!({
                "email": e.email,
                "primary": e.primary,
                "verified": e.verified,
                "visibility": visibility,
            })
        })
        .collect();
    api_json(&token, Value::Array(emails))
}

fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut bytes = vec![0u8; len];
    SystemRandom::new().fill(&mut bytes).unwrap();
    // The alphabets here are 16 and 62 long; the small bias of `% 62` does not matter here.
    bytes
        .iter()
        .map(|b| alphabet[*b as usize % alphabet.len()] as char)
        .collect()
}

#[cfg(test)]
mod harness_checks {
    use super::*;

    const CLIENT_ID: &str = "Iv1.8a61f9b3a7aba766";
    const CLIENT_SECRET: &str = "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b";
    const CALLBACK: &str = "http://127.0.0.1:9/signin/provider/github/callback";
    // RFC 7636, appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn octocat() -> GithubUser {
        GithubUser {
            id: 583231,
            login: "octocat".into(),
            name: Some("The Octocat".into()),
            public_email: None,
            emails: vec![
                GithubEmail {
                    email: "octocat@example.com".into(),
                    primary: true,
                    verified: true,
                },
                GithubEmail {
                    email: "old@example.com".into(),
                    primary: false,
                    verified: false,
                },
            ],
        }
    }

    fn browser() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    fn authorize_url(github: &GithubStandin, state: &str) -> String {
        let mut url =
            url::Url::parse(&format!("{}/login/oauth/authorize", github.web_url)).unwrap();
        url.query_pairs_mut()
            .append_pair("client_id", CLIENT_ID)
            .append_pair("redirect_uri", CALLBACK)
            .append_pair("scope", "read:user user:email")
            .append_pair("state", state)
            .append_pair("code_challenge", CHALLENGE)
            .append_pair("code_challenge_method", "S256");
        url.into()
    }

    /// Authorizes and returns the code from the callback.
    async fn authorize_code(github: &GithubStandin) -> String {
        let back = follow_authorize(&browser(), &authorize_url(github, "st4te")).await;
        assert!(back.as_str().starts_with(CALLBACK), "{back}");
        let query: HashMap<String, String> = back.query_pairs().into_owned().collect();
        assert_eq!(query["state"], "st4te");
        query["code"].clone()
    }

    async fn exchange(
        github: &GithubStandin,
        code: &str,
        secret: &str,
        verifier: &str,
        accept_json: bool,
    ) -> reqwest::Response {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("client_id", CLIENT_ID),
                ("client_secret", secret),
                ("code", code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", verifier),
            ])
            .finish();
        let mut request = reqwest::Client::new()
            .post(format!("{}/login/oauth/access_token", github.web_url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if accept_json {
            request = request.header("accept", "application/json");
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "GitHub answers 200, errors too");
        response
    }

    async fn api_get(github: &GithubStandin, path: &str, authorization: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(format!("{}{path}", github.api_url))
            .header("user-agent", "tessera-tests")
            .header("accept", "application/vnd.github+json")
            .header("authorization", authorization)
            .send()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_code_is_exchanged_with_its_pkce_verifier_then_the_user_and_emails_are_read() {
        let github = GithubStandin::start(CLIENT_ID, CLIENT_SECRET, CALLBACK, octocat()).await;
        let code = authorize_code(&github).await;
        assert_eq!(code.len(), 20);
        let token: Value = exchange(&github, &code, CLIENT_SECRET, VERIFIER, true)
            .await
            .json()
            .await
            .unwrap();
        let access_token = token["access_token"].as_str().unwrap();
        assert!(access_token.starts_with("gho_"), "{token}");
        assert_eq!(token["token_type"], "bearer");
        assert_eq!(token["scope"], "read:user,user:email");

        let bearer = format!("Bearer {access_token}");
        let response = api_get(&github, "/user", &bearer).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["x-oauth-scopes"],
            "read:user, user:email"
        );
        let user: Value = response.json().await.unwrap();
        assert_eq!(user["login"], "octocat");
        assert_eq!(user["id"], 583231);
        assert_eq!(user["node_id"], "MDQ6VXNlcjU4MzIzMQ==");
        assert_eq!(user["type"], "User");
        assert_eq!(user["name"], "The Octocat");
        assert_eq!(user["email"], Value::Null);
        assert!(user["avatar_url"].is_string());

        let emails: Value = api_get(&github, "/user/emails", &bearer)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            emails,
            json!([
                { "email": "octocat@example.com", "primary": true, "verified": true,
                  "visibility": "private" },
                { "email": "old@example.com", "primary": false, "verified": false,
                  "visibility": null },
            ])
        );
        // The older `token` scheme works too.
        let response = api_get(&github, "/user", &format!("token {access_token}")).await;
        assert_eq!(response.status(), 200);

        let exchanges = github
            .requests()
            .iter()
            .filter(|r| *r == "POST /login/oauth/access_token")
            .count();
        assert_eq!(exchanges, 1);
        assert_eq!(github.requests()[0], "GET /login/oauth/authorize");
    }

    #[tokio::test]
    async fn a_replayed_code_a_wrong_verifier_and_a_wrong_secret_are_refused() {
        let github = GithubStandin::start(CLIENT_ID, CLIENT_SECRET, CALLBACK, octocat()).await;
        let code = authorize_code(&github).await;
        // Without `Accept: application/json`, GitHub answers form-encoded.
        let first = exchange(&github, &code, CLIENT_SECRET, VERIFIER, false).await;
        assert!(
            first.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/x-www-form-urlencoded")
        );
        let first: HashMap<String, String> =
            url::form_urlencoded::parse(first.text().await.unwrap().as_bytes())
                .into_owned()
                .collect();
        assert!(first["access_token"].starts_with("gho_"));
        assert_eq!(first["scope"], "read:user,user:email");
        assert_eq!(first["token_type"], "bearer");

        let replay: Value = exchange(&github, &code, CLIENT_SECRET, VERIFIER, true)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(replay["error"], "bad_verification_code");
        assert_eq!(
            replay["error_description"],
            "The code passed is incorrect or expired."
        );
        assert!(
            replay["error_uri"]
                .as_str()
                .unwrap()
                .starts_with("https://")
        );

        let code = authorize_code(&github).await;
        let wrong: Value = exchange(&github, &code, CLIENT_SECRET, CHALLENGE, true)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(wrong["error"], "bad_verification_code", "{wrong}");

        let code = authorize_code(&github).await;
        let secret: Value = exchange(&github, &code, "not-the-secret", VERIFIER, true)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(secret["error"], "incorrect_client_credentials");
        let refused = exchange(&github, &code, "not-the-secret", VERIFIER, false)
            .await
            .text()
            .await
            .unwrap();
        assert!(
            refused.starts_with("error=incorrect_client_credentials&"),
            "{refused}"
        );
    }

    #[tokio::test]
    async fn the_api_refuses_a_request_without_user_agent_or_with_a_bad_token() {
        let github = GithubStandin::start(CLIENT_ID, CLIENT_SECRET, CALLBACK, octocat()).await;
        let code = authorize_code(&github).await;
        let token: Value = exchange(&github, &code, CLIENT_SECRET, VERIFIER, true)
            .await
            .json()
            .await
            .unwrap();
        let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
        // reqwest sends no User-Agent unless told to.
        let response = reqwest::Client::new()
            .get(format!("{}/user", github.api_url))
            .header("authorization", &bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        let text = response.text().await.unwrap();
        assert!(
            text.starts_with("Request forbidden by administrative rules"),
            "{text}"
        );

        let response = api_get(
            &github,
            "/user",
            "Bearer gho_notatokennotatokennotatokennotatoke",
        )
        .await;
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["message"], "Bad credentials");
        assert!(body["documentation_url"].is_string());
    }

    #[tokio::test]
    async fn a_refusal_an_unknown_client_and_another_user() {
        let github = GithubStandin::start(CLIENT_ID, CLIENT_SECRET, CALLBACK, octocat()).await;
        github.deny_next();
        let back = follow_authorize(&browser(), &authorize_url(&github, "s1")).await;
        let query: HashMap<String, String> = back.query_pairs().into_owned().collect();
        assert_eq!(query["error"], "access_denied");
        assert!(query.contains_key("error_description"));
        assert!(query.contains_key("error_uri"));
        assert_eq!(query["state"], "s1");
        assert!(!query.contains_key("code"));

        // A redirect_uri other than the registered one: back to the registered one, refused.
        let elsewhere = authorize_url(&github, "s4").replace("9%2Fsignin", "9%2Felsewhere");
        let back = follow_authorize(&browser(), &elsewhere).await;
        assert!(back.as_str().starts_with(CALLBACK), "{back}");
        let query: HashMap<String, String> = back.query_pairs().into_owned().collect();
        assert_eq!(query["error"], "redirect_uri_mismatch");
        assert!(!query.contains_key("code"));

        let unknown = authorize_url(&github, "s2").replace(CLIENT_ID, "Iv1.unknown");
        let response = browser().get(unknown).send().await.unwrap();
        assert_eq!(response.status(), 404);
        let response = browser()
            .get(format!("{}/users/hubot", github.api_url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        assert!(
            github
                .requests()
                .contains(&"GET /api/v3/users/hubot".to_owned())
        );

        // A scope-less token cannot list emails.
        let mut other = octocat();
        other.id = 9919;
        other.login = "hubot".into();
        other.public_email = Some("hubot@example.com".into());
        github.set_user(other);
        let url = authorize_url(&github, "s3").replace("read%3Auser+user%3Aemail", "");
        let back = follow_authorize(&browser(), &url).await;
        let query: HashMap<String, String> = back.query_pairs().into_owned().collect();
        let token: Value = exchange(&github, &query["code"], CLIENT_SECRET, VERIFIER, true)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(token["scope"], "");
        let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
        let user: Value = api_get(&github, "/user", &bearer)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(user["login"], "hubot");
        assert_eq!(user["email"], "hubot@example.com");
        let response = api_get(&github, "/user/emails", &bearer).await;
        assert_eq!(response.status(), 404);
    }
}
