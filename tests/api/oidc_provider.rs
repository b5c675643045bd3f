//! A real OpenID provider for the tests of "sign in with an OpenID Connect provider":
//! `oidc-provider` (the certified Node implementation, pinned in
//! tests/providers/oidc/package.json) run by tests/providers/oidc/server.mjs on a loopback
//! port, and the moves of a browser and of a native app against it.
//!
//! Tessera is the relying party under test; this module stands for everything outside it:
//! the provider (`OidcProvider`), the user's browser at the provider (`log_in`, `cancel`),
//! and a native app that gets its own ID token from the provider (`native_id_token`).
//! The provider is a separate process so that a test can also restart it with a new signing
//! key (a key rotation, same issuer) or stop it (the provider is down).
//!
//! The provider signs in with a login form of its own (no password: the account's `sub` is
//! the login) and grants consent at once, so one form post finishes a sign-in.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use url::{Origin, Url};

use crate::helpers::{free_port, npm_ci};

/// How long the provider may take to print its ready line (the first start of a run may
/// include `npm ci`, which is done before this clock starts).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// More redirects than any sign-in takes: a loop is a bug, reported as such.
const MAX_REDIRECTS: usize = 20;

/// The scopes `native_id_token` asks for: the claims the relying party reads.
const SCOPES: &str = "openid email profile";

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/providers/oidc")
}

/// How to configure the provider: its host name, its one client and its accounts.
#[derive(Debug, Clone)]
pub struct ProviderOptions {
    /// The host name of the issuer, `"127.0.0.1"` or `"localhost"`: the issuer is
    /// `http://{host}:{port}`. The provider listens on 127.0.0.1 either way.
    pub host: &'static str,
    /// The client the relying party is registered as.
    pub client_id: String,
    /// The client's secret, for the token endpoint.
    pub client_secret: String,
    /// Where the provider may send the browser back to; the first one is also where
    /// `native_id_token` pretends to be redirected.
    pub redirect_uris: Vec<String>,
    /// The accounts, a JSON array of objects with `sub` (also the login), and `email`,
    /// `email_verified` (a boolean), `name` and `picture` as wanted; the provider serves
    /// them for the scopes `email` and `profile`, in the ID token and at userinfo.
    pub accounts: Value,
    /// How the client authenticates at the token endpoint: `None` for
    /// `client_secret_basic`, or `Some("client_secret_post")`.
    pub token_auth: Option<&'static str>,
    /// Whether the ID token holds only `sub` (and the protocol claims), the email and
    /// profile being served at userinfo alone, as Okta's do.
    pub minimal_id_token: bool,
}

impl ProviderOptions {
    /// A provider at 127.0.0.1 with the client `tessera-test` (secret
    /// `tessera-test-secret`, `client_secret_basic`) that redirects to `redirect_uri`, and
    /// these accounts.
    pub fn new(redirect_uri: &str, accounts: Value) -> ProviderOptions {
        ProviderOptions {
            host: "127.0.0.1",
            client_id: "tessera-test".into(),
            client_secret: "tessera-test-secret".into(),
            redirect_uris: vec![redirect_uri.into()],
            accounts,
            token_auth: None,
            minimal_id_token: false,
        }
    }
}

/// A running OpenID provider (a `node` child process), killed when dropped.
pub struct OidcProvider {
    /// `http://{host}:{port}`, exactly as in its discovery document and ID tokens.
    pub issuer: String,
    /// The loopback port it listens on (127.0.0.1), kept across `restart_with_key`.
    pub port: u16,
    options: ProviderOptions,
    child: Option<Child>,
    /// What the process wrote to stderr, for failure messages.
    stderr: Arc<Mutex<String>>,
}

impl OidcProvider {
    /// Installs the provider's Node packages if needed, starts it on a free port with the
    /// signing key `k1`, and waits until it listens. Panics, with the provider's stderr, if
    /// it does not come up within 30 s.
    pub async fn start(options: ProviderOptions) -> OidcProvider {
        tokio::task::spawn_blocking(|| npm_ci(&provider_dir()))
            .await
            .expect("npm ci for tests/providers/oidc panicked");
        let port = free_port();
        let mut provider = OidcProvider {
            issuer: format!("http://{}:{port}", options.host),
            port,
            options,
            child: None,
            stderr: Arc::default(),
        };
        provider.spawn("k1").await;
        provider
    }

    /// Stops the provider and starts it again on the same port, so with the same issuer,
    /// signing with a fresh key of kid `key_id`: the provider rotated its keys. Its state
    /// (sessions, codes) is lost, as the old key is.
    pub async fn restart_with_key(&mut self, key_id: &str) {
        self.stop().await;
        self.spawn(key_id).await;
    }

    /// Kills the provider and waits for it to exit: from now on its port refuses
    /// connections (the provider is down) until `restart_with_key`.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // kill() sends SIGKILL and reaps the process; an error means it is gone already.
            let _ = child.kill().await;
        }
    }

    /// Makes the provider replace the `nonce` of the next authorization request it
    /// receives with `nonce` (once), so that the ID token it issues carries a nonce the
    /// relying party never sent. Only a `GET` of the authorization endpoint is rewritten
    /// (a browser's redirect; not a `POST`ed authorization request).
    pub async fn tamper_next_nonce(&self, nonce: &str) {
        let response = reqwest::Client::new()
            .post(format!("{}/__test/nonce", self.issuer))
            .json(&json!({ "nonce": nonce }))
            .send()
            .await
            .expect("the provider answers /__test/nonce");
        assert_eq!(
            response.status(),
            StatusCode::NO_CONTENT,
            "the provider refused to tamper with the nonce: {}",
            response.text().await.unwrap_or_default()
        );
    }

    /// The provider's discovery document (`/.well-known/openid-configuration`).
    pub async fn discovery(&self) -> Value {
        get_json(&format!("{}/.well-known/openid-configuration", self.issuer)).await
    }

    /// The options the provider was started with (its client, its accounts).
    pub fn options(&self) -> &ProviderOptions {
        &self.options
    }

    /// What the provider process wrote to stderr so far (its warnings and errors).
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Starts `node server.mjs` with the options and `key_id`, and waits for its ready line.
    async fn spawn(&mut self, key_id: &str) {
        let mut child = self.command(key_id).spawn().unwrap_or_else(|e| {
            panic!("cannot start node for the OpenID provider (is Node.js installed?): {e}")
        });
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let stderr_task = collect_lines(stderr, self.stderr.clone(), "");
        match tokio::time::timeout(READY_TIMEOUT, ready_line(stdout, self.stderr.clone())).await {
            Ok(Some(issuer)) => {
                assert_eq!(issuer, self.issuer, "the provider announced another issuer");
                self.child = Some(child);
            }
            outcome => {
                let _ = child.kill().await;
                // The rest of stderr, now that the process is gone.
                let _ = tokio::time::timeout(Duration::from_secs(2), stderr_task).await;
                let why = match outcome {
                    Ok(_) => "exited before it was ready",
                    Err(_) => "was not ready within 30 s",
                };
                panic!(
                    "the OpenID provider on port {} {why}; its stderr:\n{}",
                    self.port,
                    self.stderr()
                );
            }
        }
    }

    fn command(&self, key_id: &str) -> Command {
        let options = &self.options;
        let mut command = Command::new("node");
        command
            .arg("server.mjs")
            .current_dir(provider_dir())
            .env("PORT", self.port.to_string())
            .env("HOST", options.host)
            .env("CLIENT_ID", &options.client_id)
            .env("CLIENT_SECRET", &options.client_secret)
            .env("REDIRECT_URIS", options.redirect_uris.join(","))
            .env("ACCOUNTS", options.accounts.to_string())
            .env("KEY_ID", key_id)
            .env(
                "TOKEN_AUTH",
                options.token_auth.unwrap_or("client_secret_basic"),
            )
            .env(
                "ID_TOKEN_CLAIMS",
                if options.minimal_id_token {
                    "minimal"
                } else {
                    "full"
                },
            )
            .env_remove("NODE_ENV")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}

/// Reads stdout until the ready line and returns its issuer (`None` if stdout ends
/// first); then keeps draining stdout into `sink`, where nothing is expected.
async fn ready_line(
    stdout: impl AsyncRead + Unpin + Send + 'static,
    sink: Arc<Mutex<String>>,
) -> Option<String> {
    let mut lines = BufReader::new(stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let ready: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if ready["ready"] == true {
            let issuer = ready["issuer"].as_str().map(str::to_owned);
            tokio::spawn(drain(lines, sink, "stdout: "));
            return issuer;
        }
        push_line(&sink, "stdout: ", &line);
    }
    None
}

/// Appends every line of `stream` to `sink`, in the background.
fn collect_lines(
    stream: impl AsyncRead + Unpin + Send + 'static,
    sink: Arc<Mutex<String>>,
    prefix: &'static str,
) -> JoinHandle<()> {
    tokio::spawn(drain(BufReader::new(stream).lines(), sink, prefix))
}

async fn drain<R: AsyncBufReadExt + Unpin>(
    mut lines: tokio::io::Lines<R>,
    sink: Arc<Mutex<String>>,
    prefix: &'static str,
) {
    while let Ok(Some(line)) = lines.next_line().await {
        push_line(&sink, prefix, &line);
    }
}

fn push_line(sink: &Mutex<String>, prefix: &str, line: &str) {
    let mut sink = sink.lock().unwrap_or_else(|e| e.into_inner());
    sink.push_str(prefix);
    sink.push_str(line);
    sink.push('\n');
}

/// Where a sign-in at the provider sent the browser back to the relying party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoggedIn {
    /// A redirect (`response_mode=query`): the `Location`, e.g. the relying party's
    /// callback with `?code=...&state=...&iss=...` (or `?error=...`).
    Redirect(Url),
    /// An auto-submitting form (`response_mode=form_post`): where it posts and its fields
    /// (`code`, `state`, `iss`, or `error`...), in order.
    FormPost {
        action: Url,
        fields: Vec<(String, String)>,
    },
}

impl LoggedIn {
    /// The parameters the provider sent back, whichever the response mode.
    pub fn params(&self) -> HashMap<String, String> {
        match self {
            LoggedIn::Redirect(url) => url.query_pairs().into_owned().collect(),
            LoggedIn::FormPost { fields, .. } => fields.iter().cloned().collect(),
        }
    }
}

/// A browser for `log_in` and `cancel`: it keeps cookies and follows no redirect by itself
/// (they are followed only while they stay on the provider).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a reqwest client builds")
}

/// Signs in at the provider as `login` (an account's `sub`), the way a browser does:
/// opens `authorize_url` (the provider's authorization endpoint with the relying party's
/// parameters), follows the provider's redirects to its login form, submits it, and follows
/// the provider's redirects until the first that leaves the provider, or the auto-submitting
/// form of `response_mode=form_post`, which it returns without following. If the browser
/// is still signed in at the provider there is no form, and the flow goes straight back.
///
/// `browser` must keep cookies and not follow redirects (see `browser()`). Panics, with
/// the provider's answer, if the flow stops anywhere else (an unknown login is answered
/// 400; an invalid authorization request gets the provider's error page).
pub async fn log_in(browser: &reqwest::Client, authorize_url: &str, login: &str) -> LoggedIn {
    let origin = origin_of(authorize_url);
    let page = match follow(browser, &origin, get(browser, authorize_url).await).await {
        Step::Left(back) => return back,
        Step::Stayed(page) => page,
    };
    let action = page.interaction_action("login");
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("login", login)
        .finish();
    let response = browser
        .post(action.clone())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {action}: {e}"));
    match follow(browser, &origin, response).await {
        Step::Left(back) => back,
        Step::Stayed(page) => panic!(
            "logging in as {login:?} did not lead back to the relying party: {}",
            page.describe()
        ),
    }
}

/// Opens `authorize_url` like `log_in`, but presses "cancel" on the provider's login form:
/// returns where the provider redirects the browser, the relying party's callback with
/// `error=access_denied`. For `response_mode=query` (the default); panics on a form post.
pub async fn cancel(browser: &reqwest::Client, authorize_url: &str) -> Url {
    let origin = origin_of(authorize_url);
    let page = match follow(browser, &origin, get(browser, authorize_url).await).await {
        Step::Stayed(page) => page,
        Step::Left(back) => panic!("the provider asked for no login, nothing to cancel: {back:?}"),
    };
    let abort = page.interaction_action("abort");
    match follow(browser, &origin, get(browser, abort.as_str()).await).await {
        Step::Left(LoggedIn::Redirect(url)) => url,
        Step::Left(back) => panic!("cancel expects response_mode=query, got {back:?}"),
        Step::Stayed(page) => panic!("cancelling did not lead back: {}", page.describe()),
    }
}

/// An ID token of the provider for `login`, obtained as a native app would: the
/// authorization code flow run directly against the provider (a fresh browser, PKCE S256,
/// the scopes `openid email profile`, `nonce=nonce_claim` when given, the redirect to the
/// first registered redirect URI intercepted, never followed), then the code exchanged at
/// the token endpoint with the client's credentials. The relying party under test receives
/// this token at `POST /signin/idtoken`.
pub async fn native_id_token(
    provider: &OidcProvider,
    login: &str,
    nonce_claim: Option<&str>,
) -> String {
    let tokens = native_tokens(provider, login, nonce_claim).await;
    tokens["id_token"]
        .as_str()
        .unwrap_or_else(|| panic!("the token response has no id_token: {tokens}"))
        .to_owned()
}

/// The token response of the flow of `native_id_token`.
async fn native_tokens(provider: &OidcProvider, login: &str, nonce_claim: Option<&str>) -> Value {
    let discovery = provider.discovery().await;
    let state = random_b64(16);
    let verifier = random_b64(32);
    let request = AuthorizationRequest {
        state: &state,
        nonce: nonce_claim,
        code_challenge: &s256(&verifier),
        response_mode: None,
    };
    let authorize_url = request.url(provider, &discovery);
    let back = log_in(&browser(), &authorize_url, login).await;
    let params = back.params();
    let code = params
        .get("code")
        .unwrap_or_else(|| panic!("the provider sent back no code: {back:?}"));
    assert_eq!(
        params.get("state"),
        Some(&state),
        "the provider changed the state"
    );
    exchange_code(provider, &discovery, code, &verifier).await
}

/// The parameters of an authorization request of the provider's client.
struct AuthorizationRequest<'a> {
    state: &'a str,
    nonce: Option<&'a str>,
    code_challenge: &'a str,
    response_mode: Option<&'a str>,
}

impl AuthorizationRequest<'_> {
    /// The provider's authorization endpoint with these parameters, the client's id, its
    /// first redirect URI and the scopes `openid email profile`.
    fn url(&self, provider: &OidcProvider, discovery: &Value) -> String {
        let endpoint = discovery["authorization_endpoint"]
            .as_str()
            .unwrap_or_else(|| panic!("no authorization_endpoint in {discovery}"));
        let mut url = Url::parse(endpoint).expect("the authorization endpoint is a URL");
        let options = provider.options();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &options.client_id)
                .append_pair("redirect_uri", &options.redirect_uris[0])
                .append_pair("scope", SCOPES)
                .append_pair("state", self.state)
                .append_pair("code_challenge", self.code_challenge)
                .append_pair("code_challenge_method", "S256");
            if let Some(nonce) = self.nonce {
                query.append_pair("nonce", nonce);
            }
            if let Some(mode) = self.response_mode {
                query.append_pair("response_mode", mode);
            }
        }
        url.into()
    }
}

/// The token endpoint's answer for `code`, authenticated as the provider's client.
async fn exchange_code(
    provider: &OidcProvider,
    discovery: &Value,
    code: &str,
    verifier: &str,
) -> Value {
    let endpoint = discovery["token_endpoint"]
        .as_str()
        .unwrap_or_else(|| panic!("no token_endpoint in {discovery}"));
    let options = provider.options();
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", &options.redirect_uris[0])
        .append_pair("code_verifier", verifier);
    let mut request = reqwest::Client::new().post(endpoint);
    if options.token_auth == Some("client_secret_post") {
        form.append_pair("client_id", &options.client_id)
            .append_pair("client_secret", &options.client_secret);
    } else {
        // RFC 6749 2.3.1: both are form-urlencoded before they are joined.
        request = request.basic_auth(
            form_encode(&options.client_id),
            Some(form_encode(&options.client_secret)),
        );
    }
    let response = request
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.finish())
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {endpoint}: {e}"));
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(
        status,
        StatusCode::OK,
        "the token endpoint refused the code: {body}"
    );
    body
}

fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// `len` random bytes, base64url: a state or a PKCE verifier.
fn random_b64(len: usize) -> String {
    let mut bytes = vec![0; len];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system has randomness");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The S256 code challenge of a PKCE verifier.
fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ))
}

async fn get_json(url: &str) -> Value {
    let response = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(status, StatusCode::OK, "GET {url}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url} is not JSON ({e}): {text}"))
}

fn origin_of(url: &str) -> Origin {
    Url::parse(url)
        .unwrap_or_else(|e| panic!("{url:?} is not a URL: {e}"))
        .origin()
}

async fn get(browser: &reqwest::Client, url: &str) -> Response {
    browser
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// Where following the provider's redirects ended.
enum Step {
    /// The browser was sent away from the provider.
    Left(LoggedIn),
    /// A page of the provider itself.
    Stayed(Page),
}

struct Page {
    url: Url,
    status: StatusCode,
    body: String,
}

impl Page {
    /// The URL of `action` (`login` or `abort`) of this login page, which must be one.
    fn interaction_action(&self, action: &str) -> Url {
        let is_login_page = self.status == StatusCode::OK
            && self.url.path().starts_with("/interaction/")
            && self.body.contains("id=\"login\"");
        assert!(
            is_login_page,
            "expected the provider's login form, got {}",
            self.describe()
        );
        self.url
            .join(&format!("{}/{action}", self.url.path()))
            .expect("an interaction URL joins")
    }

    fn describe(&self) -> String {
        format!("{} {}: {}", self.status, self.url, self.body)
    }
}

/// Follows the redirects of `response` while they stay at `provider` (`GET`, as a browser
/// does after a 302 or 303), and stops at the first that leaves it, at a form post that
/// leaves it, or at a page of the provider.
async fn follow(browser: &reqwest::Client, provider: &Origin, mut response: Response) -> Step {
    for _ in 0..MAX_REDIRECTS {
        let url = response.url().clone();
        let status = response.status();
        if status.is_redirection() {
            let target = redirect_target(&response);
            if target.origin() != *provider {
                return Step::Left(LoggedIn::Redirect(target));
            }
            response = get(browser, target.as_str()).await;
            continue;
        }
        let body = response.text().await.unwrap_or_default();
        if let Some((action, fields)) = auto_submit_form(&url, &body)
            && action.origin() != *provider
        {
            return Step::Left(LoggedIn::FormPost { action, fields });
        }
        return Step::Stayed(Page { url, status, body });
    }
    panic!("more than {MAX_REDIRECTS} redirects at the provider");
}

fn redirect_target(response: &Response) -> Url {
    let url = response.url();
    let location = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_else(|| panic!("a {} from {url} without a Location", response.status()));
    url.join(location)
        .unwrap_or_else(|e| panic!("the Location {location:?} from {url} is not a URL: {e}"))
}

/// The action and fields of an auto-submitting form (oidc-provider's `form_post` page),
/// if `body` is one.
fn auto_submit_form(page: &Url, body: &str) -> Option<(Url, Vec<(String, String)>)> {
    if !body.contains("document.forms[0].submit()") {
        return None;
    }
    let form = &body[body.find("<form")?..];
    let form_tag = &form[..form.find('>')?];
    let action = page.join(&attribute(form_tag, "action")?).ok()?;
    let fields = form
        .split("<input")
        .skip(1)
        .filter_map(|input| {
            let tag = &input[..input.find('>')?];
            Some((
                attribute(tag, "name")?,
                attribute(tag, "value").unwrap_or_default(),
            ))
        })
        .collect();
    Some((action, fields))
}

/// The value of `name="..."` in an HTML tag, unescaped.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = start + tag[start..].find('"')?;
    Some(unescape_html(&tag[start..end]))
}

/// Undoes the escaping of oidc-provider's `htmlSafe`.
fn unescape_html(value: &str) -> String {
    value
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Harness self-tests: the provider and the moves above work as the Tessera tests will
/// rely on. They test the harness, not Tessera.
#[cfg(test)]
mod harness_checks {
    use super::*;

    const REDIRECT_URI: &str = "http://127.0.0.1:9/cb";

    fn alice() -> Value {
        json!([{
            "sub": "alice",
            "email": "alice@example.test",
            "email_verified": true,
            "name": "Alice A",
            "picture": "https://example.test/alice.png"
        }])
    }

    /// The JSON of the `part`th (0: header, 1: payload) part of a JWT.
    fn jwt_part(token: &str, part: usize) -> Value {
        let encoded = token.split('.').nth(part).expect("a JWT has three parts");
        let bytes = URL_SAFE_NO_PAD.decode(encoded).expect("base64url");
        serde_json::from_slice(&bytes).expect("JSON")
    }

    async fn jwks_kids(provider: &OidcProvider) -> Vec<String> {
        let discovery = provider.discovery().await;
        let jwks = get_json(discovery["jwks_uri"].as_str().unwrap()).await;
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|key| key["kid"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn authorize_url(
        provider: &OidcProvider,
        response_mode: Option<&str>,
    ) -> (String, String) {
        let state = random_b64(16);
        let request = AuthorizationRequest {
            state: &state,
            nonce: Some("n"),
            code_challenge: &s256(&random_b64(32)),
            response_mode,
        };
        (request.url(provider, &provider.discovery().await), state)
    }

    #[tokio::test]
    async fn native_id_token_carries_the_claims() {
        let provider = OidcProvider::start(ProviderOptions::new(REDIRECT_URI, alice())).await;
        assert_eq!(
            provider.issuer,
            format!("http://127.0.0.1:{}", provider.port)
        );
        assert_eq!(provider.discovery().await["issuer"], provider.issuer);
        let token = native_id_token(&provider, "alice", Some("nonce-1")).await;
        let header = jwt_part(&token, 0);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["kid"], "k1");
        let claims = jwt_part(&token, 1);
        assert_eq!(claims["iss"], provider.issuer);
        assert_eq!(claims["aud"], "tessera-test");
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["email"], "alice@example.test");
        assert_eq!(claims["email_verified"], true);
        assert_eq!(claims["name"], "Alice A");
        assert_eq!(claims["picture"], "https://example.test/alice.png");
        assert_eq!(claims["nonce"], "nonce-1");
        let token = native_id_token(&provider, "alice", None).await;
        assert!(jwt_part(&token, 1).get("nonce").is_none());

        // The same claims at userinfo.
        let tokens = native_tokens(&provider, "alice", None).await;
        let userinfo = reqwest::Client::new()
            .get(
                provider.discovery().await["userinfo_endpoint"]
                    .as_str()
                    .unwrap(),
            )
            .bearer_auth(tokens["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        assert_eq!(userinfo["sub"], "alice");
        assert_eq!(userinfo["email"], "alice@example.test");
        assert_eq!(userinfo["email_verified"], true);
        assert_eq!(userinfo["name"], "Alice A");
        let stderr = provider.stderr();
        assert!(!stderr.contains("server_error"), "{stderr}");
    }

    #[tokio::test]
    async fn localhost_issuer_and_client_secret_post() {
        let mut options = ProviderOptions::new(REDIRECT_URI, alice());
        options.host = "localhost";
        options.token_auth = Some("client_secret_post");
        let provider = OidcProvider::start(options).await;
        assert_eq!(
            provider.issuer,
            format!("http://localhost:{}", provider.port)
        );
        let discovery = provider.discovery().await;
        assert_eq!(discovery["issuer"], provider.issuer);
        assert!(
            discovery["token_endpoint"]
                .as_str()
                .unwrap()
                .starts_with(&provider.issuer)
        );
        let claims = jwt_part(&native_id_token(&provider, "alice", Some("n2")).await, 1);
        assert_eq!(claims["iss"], provider.issuer);
        assert_eq!(claims["nonce"], "n2");
    }

    #[tokio::test]
    async fn log_in_in_both_response_modes() {
        let provider = OidcProvider::start(ProviderOptions::new(REDIRECT_URI, alice())).await;

        let (url, state) = authorize_url(&provider, None).await;
        let back = log_in(&browser(), &url, "alice").await;
        let LoggedIn::Redirect(target) = &back else {
            panic!("expected a redirect, got {back:?}");
        };
        assert!(target.as_str().starts_with(REDIRECT_URI), "{target}");
        let params = back.params();
        assert!(params.contains_key("code"), "{back:?}");
        assert_eq!(params["state"], state);
        assert_eq!(params["iss"], provider.issuer);

        let (url, state) = authorize_url(&provider, Some("form_post")).await;
        let back = log_in(&browser(), &url, "alice").await;
        let LoggedIn::FormPost { action, .. } = &back else {
            panic!("expected a form post, got {back:?}");
        };
        assert_eq!(action.as_str(), REDIRECT_URI);
        let params = back.params();
        assert!(params.contains_key("code"), "{back:?}");
        assert_eq!(params["state"], state);

        // Still signed in at the provider: the same browser goes straight back.
        let browser = browser();
        let (url, _) = authorize_url(&provider, None).await;
        log_in(&browser, &url, "alice").await;
        let (url, state) = authorize_url(&provider, None).await;
        let again = log_in(&browser, &url, "nobody").await;
        assert_eq!(again.params()["state"], state);
        assert!(again.params().contains_key("code"));
    }

    #[tokio::test]
    async fn cancel_sends_back_access_denied() {
        let provider = OidcProvider::start(ProviderOptions::new(REDIRECT_URI, alice())).await;
        let (url, state) = authorize_url(&provider, None).await;
        let back = cancel(&browser(), &url).await;
        let params: HashMap<String, String> = back.query_pairs().into_owned().collect();
        assert_eq!(params["error"], "access_denied", "{back}");
        assert_eq!(params["state"], state);
        assert!(!params.contains_key("code"));
    }

    #[tokio::test]
    async fn restart_with_key_rotates_the_signing_key() {
        let mut provider = OidcProvider::start(ProviderOptions::new(REDIRECT_URI, alice())).await;
        let issuer = provider.issuer.clone();
        assert_eq!(jwks_kids(&provider).await, ["k1"]);
        provider.restart_with_key("k2").await;
        assert_eq!(provider.issuer, issuer);
        assert_eq!(jwks_kids(&provider).await, ["k2"]);
        let token = native_id_token(&provider, "alice", None).await;
        assert_eq!(jwt_part(&token, 0)["kid"], "k2");
        assert_eq!(jwt_part(&token, 1)["iss"], issuer);

        provider.stop().await;
        let down = reqwest::get(format!("{issuer}/jwks")).await;
        assert!(down.is_err(), "the provider still answers after stop");
    }

    #[tokio::test]
    async fn tamper_next_nonce_replaces_one_nonce() {
        let provider = OidcProvider::start(ProviderOptions::new(REDIRECT_URI, alice())).await;
        provider.tamper_next_nonce("evil").await;
        let token = native_id_token(&provider, "alice", Some("sent")).await;
        assert_eq!(jwt_part(&token, 1)["nonce"], "evil");
        let token = native_id_token(&provider, "alice", Some("sent")).await;
        assert_eq!(jwt_part(&token, 1)["nonce"], "sent");
    }
}
