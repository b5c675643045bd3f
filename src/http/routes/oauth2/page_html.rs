//! The HTML of the pages Tessera ships for the OAuth provider: the sign-in, code and
//! consent pages of `/oauth2/ui`, the error page and the signed-out page.
//!
//! No JavaScript at all: plain forms that post back to Tessera. Every interpolated string
//! is escaped, and every page goes out with headers that forbid scripts, framing (a framed
//! consent button could be clicked for the user) and caching (the pages carry the request
//! id and the second step's ticket).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use url::Url;

use crate::domain::oauth2::PendingRequest;

/// The look of every page: the example app's system font and greys, one column, a visible
/// focus ring, and an error box that does not rely on colour alone (it has a border and a
/// heading-like weight).
const STYLE: &str = "\
body{font-family:system-ui,sans-serif;line-height:1.5;margin:0;background:#f4f4f4;color:#1a1a1a}\
main{max-width:24rem;margin:3rem auto;padding:1.5rem 2rem;background:#fff;border:1px solid #d0d0d0;border-radius:.5rem}\
h1{font-size:1.4rem;margin:0 0 1rem}\
label{display:block;font-weight:600;margin-top:1rem}\
input{display:block;box-sizing:border-box;width:100%;margin-top:.25rem;padding:.5rem;font:inherit;border:1px solid #767676;border-radius:.25rem}\
button{font:inherit;padding:.5rem 1.25rem;margin:1.25rem .5rem 0 0;border:1px solid #1a1a1a;border-radius:.25rem;background:#1a1a1a;color:#fff;cursor:pointer}\
button.secondary{background:#fff;color:#1a1a1a}\
:focus-visible{outline:3px solid #0b57d0;outline-offset:2px}\
.alert{margin:1rem 0;padding:.5rem .75rem;border:1px solid #b00020;border-left-width:4px;background:#fdecee;font-weight:600}\
.note{color:#555;font-size:.9rem}\
code{background:#f4f4f4;padding:0 .25rem}";

/// Nothing but the inline stylesheet may load, forms post only to Tessera, no page may
/// frame these, and a `<base>` cannot move the forms elsewhere. `redirect`: the origin of
/// the app's redirect URI, for pages whose form may be answered by a redirect to the app
/// (Chromium checks `form-action` against the redirects that follow a form post too).
fn content_security_policy(redirect: Option<&str>) -> String {
    let form_action = match redirect.and_then(form_action_source) {
        Some(source) => format!("'self' {source}"),
        None => "'self'".to_owned(),
    };
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action {form_action}; \
         frame-ancestors 'none'; base-uri 'none'"
    )
}

/// The CSP source that allows a redirect to `redirect_uri`: its origin, or its scheme for
/// a native app's private-use scheme (`com.example.app:/callback`), which has no origin.
fn form_action_source(redirect_uri: &str) -> Option<String> {
    let url = Url::parse(redirect_uri).ok()?;
    let origin = url.origin();
    let source = if origin.is_tuple() {
        origin.ascii_serialization()
    } else {
        format!("{}:", url.scheme())
    };
    // A CSP source list is split on spaces and `;`: a URL parser never lets those through,
    // but a page never trusts that.
    (!source.contains([' ', ';', ',', '\'']) && !source.is_empty()).then_some(source)
}

/// A whole page: the layout around `body`, with the headers every page carries.
fn page(status: StatusCode, title: &str, body: &str, redirect: Option<&str>) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body}</main>\n\
         </body>\n</html>\n",
        title = escape(title),
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    let csp = HeaderValue::from_str(&content_security_policy(redirect))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
    headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Not `no-referrer`: under it a browser sends `Origin: null` with the forms' posts,
    // and the posts are accepted by their `Origin` alone.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// The error region: announced by screen readers as soon as the page loads.
fn alert(message: Option<&str>) -> String {
    message.map_or_else(String::new, |m| {
        format!(
            "<p class=\"alert\" role=\"alert\" id=\"problem\">{}</p>\n",
            escape(m)
        )
    })
}

/// `aria-invalid` and `aria-describedby` for an input when the page shows a problem.
fn invalid(message: Option<&str>) -> &'static str {
    if message.is_some() {
        " aria-invalid=\"true\" aria-describedby=\"problem\""
    } else {
        ""
    }
}

/// What a scope lets the app do, in the words the consent page uses.
fn scope_words(scope: &str) -> String {
    match scope {
        "openid" => "Know who you are".to_owned(),
        "profile" => "See your name and picture".to_owned(),
        "email" => "See your email address".to_owned(),
        "offline_access" => "Stay signed in when you are away".to_owned(),
        other => format!("<code>{}</code>", escape(other)),
    }
}

/// The app's name and the list of what it asks for.
fn asks_for(pending: &PendingRequest) -> String {
    let items: String = pending
        .scopes
        .iter()
        .map(|s| format!("<li>{}</li>\n", scope_words(s)))
        .collect();
    format!(
        "<p><strong>{}</strong> asks to:</p>\n<ul>\n{items}</ul>\n",
        escape(&pending.client_name)
    )
}

/// Where the app sends the user back to, shown so a look-alike app can be told apart.
fn returns_to(pending: &PendingRequest) -> String {
    let place = Url::parse(&pending.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| pending.redirect_uri.clone());
    format!(
        "<p class=\"note\">You will go back to <strong>{}</strong>.</p>\n",
        escape(&place)
    )
}

/// A hidden field.
fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
        escape(name),
        escape(value)
    )
}

/// The form that answers "no" for the app without signing in or consenting.
fn cancel_form(base: &str, pending: &PendingRequest, label: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{base}/oauth2/ui/consent\">\n{}{}\
         <button type=\"submit\" class=\"secondary\">{}</button>\n</form>\n",
        hidden("request_id", &pending.id.to_string()),
        hidden("decision", "deny"),
        escape(label),
        base = escape(base),
    )
}

/// The sign-in page: email and password for the app's request. `email`: what the user
/// typed before (kept after a wrong password); `message`: what went wrong.
pub fn sign_in(
    base: &str,
    status: StatusCode,
    pending: &PendingRequest,
    email: &str,
    message: Option<&str>,
) -> Response {
    let body = format!(
        "<h1>Sign in</h1>\n<p>Sign in to continue to <strong>{name}</strong>.</p>\n{asks}{alert}\
         <form method=\"post\" action=\"{base}/oauth2/ui/signin\">\n{id}\
         <label for=\"email\">Email</label>\n\
         <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required \
         value=\"{email}\"{invalid}>\n\
         <label for=\"password\">Password</label>\n\
         <input id=\"password\" name=\"password\" type=\"password\" \
         autocomplete=\"current-password\" required{invalid}>\n\
         <button type=\"submit\">Sign in</button>\n</form>\n{cancel}{returns}",
        name = escape(&pending.client_name),
        asks = asks_for(pending),
        alert = alert(message),
        base = escape(base),
        id = hidden("request_id", &pending.id.to_string()),
        email = escape(email),
        invalid = invalid(message),
        cancel = cancel_form(base, pending, "Cancel"),
        returns = returns_to(pending),
    );
    page(status, "Sign in", &body, Some(&pending.redirect_uri))
}

/// The second step: the code of the user's authenticator app, with the first step's
/// ticket in a hidden field.
pub fn second_factor(
    base: &str,
    status: StatusCode,
    pending: &PendingRequest,
    ticket: &str,
    message: Option<&str>,
) -> Response {
    let body = format!(
        "<h1>Enter your code</h1>\n<p>Open your authenticator app and enter the 6-digit code \
         it shows for your account, or one of your recovery codes.</p>\n{alert}\
         <form method=\"post\" action=\"{base}/oauth2/ui/signin\">\n{id}{ticket}\
         <label for=\"otp\">Code</label>\n\
         <input id=\"otp\" name=\"otp\" type=\"text\" inputmode=\"numeric\" \
         autocomplete=\"one-time-code\" required{invalid}>\n\
         <button type=\"submit\">Continue</button>\n</form>\n{cancel}",
        alert = alert(message),
        base = escape(base),
        id = hidden("request_id", &pending.id.to_string()),
        ticket = hidden("ticket", ticket),
        invalid = invalid(message),
        cancel = cancel_form(base, pending, "Cancel"),
    );
    page(
        status,
        "Enter your code",
        &body,
        Some(&pending.redirect_uri),
    )
}

/// The consent page: what the app asks for, Allow and Deny.
pub fn consent(base: &str, pending: &PendingRequest) -> Response {
    let body = format!(
        "<h1>Allow {name}?</h1>\n{asks}\
         <form method=\"post\" action=\"{base}/oauth2/ui/consent\">\n{id}\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button>\n\
         </form>\n{returns}\
         <p class=\"note\">You can take this back at any time from your account's \
         authorised apps.</p>\n",
        name = escape(&pending.client_name),
        asks = asks_for(pending),
        base = escape(base),
        id = hidden("request_id", &pending.id.to_string()),
        returns = returns_to(pending),
    );
    page(
        StatusCode::OK,
        &format!("Allow {}?", pending.client_name),
        &body,
        Some(&pending.redirect_uri),
    )
}

/// The sign-in page's words for a refused first step (by its error code): a wrong password and an unknown
/// account read the same; the others are told only after the right password, as on the
/// JSON route.
pub fn password_problem(code: &str) -> &'static str {
    match code {
        "disabled-user" => "This account is disabled.",
        "unverified-user" => {
            "Verify your email address first: follow the link in the email we sent you."
        }
        "too-many-requests" => "Too many failed sign-ins. Wait a while and try again.",
        "invalid-request" => "Enter your email address and password.",
        _ => "The email address or password is not right.",
    }
}

/// The code page's words for a refused second step (by its error code).
pub fn code_problem(code: &str) -> &'static str {
    match code {
        "too-many-requests" => "Too many wrong codes. Wait a while and try again.",
        "disabled-user" => "This account is disabled.",
        "disabled-mfa-totp" => "Two-step sign-in was turned off meanwhile. Sign in again.",
        _ => "That code is not right. Try the code your app shows now.",
    }
}

/// An error page: what is wrong, and its OAuth code for the developer.
pub fn error(status: StatusCode, code: &str, description: &str) -> Response {
    let body = format!(
        "<h1>Something went wrong</h1>\n{}<p class=\"note\">Error code: <code>{}</code></p>\n",
        alert(Some(description)),
        escape(code)
    );
    page(status, "Something went wrong", &body, None)
}

/// The page a logout ends on when the app gave no place to go.
pub fn signed_out(signed_out: bool) -> Response {
    let (title, text) = if signed_out {
        ("Signed out", "You are signed out of the app.")
    } else {
        (
            "Nothing to sign out of",
            "You were not signed in to the app.",
        )
    };
    let body = format!(
        "<h1>{}</h1>\n<p>{}</p>\n<p class=\"note\">You can close this page.</p>\n",
        escape(title),
        escape(text)
    );
    page(StatusCode::OK, title, &body, None)
}

/// Text made safe for HTML, in element content and in quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_text_is_escaped() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn form_action_allows_the_apps_origin_or_scheme_only() {
        assert_eq!(
            form_action_source("https://app.example.com/cb?x=1").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            form_action_source("http://127.0.0.1:8080/cb").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(
            form_action_source("com.example.app:/callback").as_deref(),
            Some("com.example.app:")
        );
        assert_eq!(form_action_source("not a url"), None);
        assert_eq!(
            content_security_policy(None),
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'"
        );
    }
}
