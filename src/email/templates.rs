//! Email templates: a subject, a plain-text body and an HTML body per kind of message.
//! Built in, and overridable by files in `TESSERA_EMAIL_TEMPLATES_DIR` named
//! `<kind>.subject.txt`, `<kind>.txt` and `<kind>.html` (any of them; the rest stay built
//! in). Placeholders: `{{link}}`, `{{code}}` (the one-time code of `signin-otp`),
//! `{{email}}` (the recipient), `{{newEmail}}` (the new address of an email change),
//! `{{displayName}}`, `{{expiresIn}}`; in HTML they are escaped.

use std::path::Path;

/// What a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailKind {
    VerifyEmail,
    PasswordReset,
    EmailChange,
    /// To the old address after an email change, with a link that reverts it.
    EmailChanged,
    SigninLink,
    /// A one-time code to type into the app (`POST /signin/otp/email`); no link.
    SigninOtp,
}

impl EmailKind {
    /// The file-name stem of its templates.
    pub fn name(self) -> &'static str {
        match self {
            EmailKind::VerifyEmail => "verify-email",
            EmailKind::PasswordReset => "password-reset",
            EmailKind::EmailChange => "email-change",
            EmailKind::EmailChanged => "email-changed",
            EmailKind::SigninLink => "signin-link",
            EmailKind::SigninOtp => "signin-otp",
        }
    }

    fn built_in(self) -> (&'static str, &'static str) {
        match self {
            EmailKind::VerifyEmail => (
                "Verify your email address",
                "Hello {{displayName}},\n\nPlease confirm that {{email}} is your address by opening this link:\n\n{{link}}\n\nThe link works once and expires in {{expiresIn}}.\n\nIf you did not sign up, do not open the link: someone else may have used your address. To make sure you alone have access to an account under it, ask for a password reset for this address instead; that removes any password someone else set and signs them out.\n",
            ),
            EmailKind::PasswordReset => (
                "Reset your password",
                "Hello {{displayName}},\n\nSomeone asked to reset the password of {{email}}. To choose a new one, open this link:\n\n{{link}}\n\nThe link works once and expires in {{expiresIn}}. If it was not you, ignore this message: your password stays as it is.\n",
            ),
            EmailKind::EmailChange => (
                "Confirm your new email address",
                "Hello {{displayName}},\n\nTo make {{email}} the address of your account, open this link:\n\n{{link}}\n\nThe link works once and expires in {{expiresIn}}. If you did not ask for this, ignore this message.\n",
            ),
            EmailKind::EmailChanged => (
                "The email address of your account was changed",
                "Hello {{displayName}},\n\nThe address of your account was changed from {{email}} to {{newEmail}}. If that was you, there is nothing to do.\n\nIf it was not you, open this link to put {{email}} back and sign out every session of the account:\n\n{{link}}\n\nThen reset your password. The link works once and expires in {{expiresIn}}.\n",
            ),
            EmailKind::SigninLink => (
                "Your sign-in link",
                "Hello {{displayName}},\n\nOpen this link to sign in as {{email}}:\n\n{{link}}\n\nThe link works once and expires in {{expiresIn}}. If you did not ask for it, ignore this message.\n",
            ),
            // The code sits alone on its line, easy to find and to copy.
            EmailKind::SigninOtp => (
                "Your sign-in code",
                "Hello {{displayName}},\n\nYour code to sign in as {{email}}:\n\n{{code}}\n\nType it where you asked for it. It works once and expires in {{expiresIn}}. Nobody from the service will ever ask you for it; if you did not ask for a code, ignore this message.\n",
            ),
        }
    }
}

/// A rendered message.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The values placeholders take.
pub struct Values<'a> {
    pub link: &'a str,
    pub code: &'a str,
    pub email: &'a str,
    pub new_email: &'a str,
    pub display_name: &'a str,
    pub expires_in: &'a str,
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn fill(template: &str, values: &Values<'_>, escape: fn(&str) -> String) -> String {
    template
        .replace("{{link}}", &escape(values.link))
        .replace("{{code}}", &escape(values.code))
        .replace("{{email}}", &escape(values.email))
        .replace("{{newEmail}}", &escape(values.new_email))
        .replace("{{displayName}}", &escape(values.display_name))
        .replace("{{expiresIn}}", &escape(values.expires_in))
}

/// Renders `kind`, preferring the operator's files in `dir`.
pub fn render(kind: EmailKind, dir: Option<&Path>, values: &Values<'_>) -> Rendered {
    let read = |suffix: &str| {
        dir.and_then(|dir| {
            std::fs::read_to_string(dir.join(format!("{}.{suffix}", kind.name()))).ok()
        })
    };
    let (subject, text) = kind.built_in();
    let subject = read("subject.txt").unwrap_or_else(|| subject.to_owned());
    let text = read("txt").unwrap_or_else(|| text.to_owned());
    let html = read("html").unwrap_or_else(|| {
        // The built-in HTML is the text, escaped, with the link made clickable.
        let body = escape_html(&text).replace("{{link}}", "<a href=\"{{link}}\">{{link}}</a>");
        format!(
            "<!doctype html><html><body><p>{}</p></body></html>",
            body.replace("\n\n", "</p><p>").replace('\n', "<br>")
        )
    });
    let keep = |s: &str| s.to_owned();
    Rendered {
        subject: fill(subject.trim(), values, keep),
        text: fill(&text, values, keep),
        html: fill(&html, values, escape_html),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Values<'static> {
        Values {
            link: "https://auth.example.com/verify?ticket=abc&type=emailVerify",
            code: "042917",
            email: "ada@example.com",
            new_email: "lovelace@example.com",
            display_name: "Ada <script>",
            expires_in: "24 hours",
        }
    }

    #[test]
    fn built_in_templates_fill_every_placeholder_and_escape_html() {
        for kind in [
            EmailKind::VerifyEmail,
            EmailKind::PasswordReset,
            EmailKind::EmailChange,
            EmailKind::EmailChanged,
            EmailKind::SigninLink,
        ] {
            let r = render(kind, None, &values());
            assert!(!r.text.contains("042917"), "a code only where it belongs");
            assert!(!r.text.contains("{{") && !r.html.contains("{{") && !r.subject.contains("{{"));
            assert!(r.text.contains("ticket=abc&type=emailVerify"));
            assert!(r.html.contains(
                "href=\"https://auth.example.com/verify?ticket=abc&amp;type=emailVerify\""
            ));
            assert!(r.html.contains("Ada &lt;script&gt;"), "{}", r.html);
        }
    }

    #[test]
    fn the_code_message_carries_the_code_and_no_link() {
        let r = render(EmailKind::SigninOtp, None, &values());
        assert!(!r.text.contains("{{") && !r.html.contains("{{") && !r.subject.contains("{{"));
        assert!(r.text.contains("\n\n042917\n\n"), "{}", r.text);
        assert!(r.html.contains("042917"));
        assert!(
            !r.text.contains("http") && !r.html.contains("href"),
            "no link"
        );
        assert!(r.html.contains("Ada &lt;script&gt;"), "{}", r.html);

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("signin-otp.subject.txt"),
            "{{code}} is your Acme code\n",
        )
        .unwrap();
        let r = render(EmailKind::SigninOtp, Some(dir.path()), &values());
        assert_eq!(r.subject, "042917 is your Acme code");
    }

    #[test]
    fn operators_override_templates_by_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("verify-email.subject.txt"),
            "Welcome to Acme\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("verify-email.html"),
            "<b>{{displayName}}</b> {{link}}",
        )
        .unwrap();
        let r = render(EmailKind::VerifyEmail, Some(dir.path()), &values());
        assert_eq!(r.subject, "Welcome to Acme");
        assert!(r.html.starts_with("<b>Ada &lt;script&gt;</b>"));
        assert!(r.text.contains("Please confirm"), "the text stays built in");
    }
}
