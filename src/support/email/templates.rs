//! Email templates: a subject, a plain-text body and an HTML body per kind of message, in
//! the recipient's language (the user's `locale`) when a translation exists, else English.
//!
//! Built in: one JSON file per language in `src/email/locales/` (`en.json`, `fr.json`),
//! holding the subject and text of every kind and the words of `{{expiresIn}}`; a
//! translation is one more such file and one line in [`BUILT_IN`]. A kind a translation
//! lacks stays English.
//!
//! Operators override any part by files in `TESSERA_EMAIL_TEMPLATES_DIR`:
//! `<lang>/<kind>.subject.txt`, `<lang>/<kind>.txt`, `<lang>/<kind>.html` for one language,
//! then `<kind>.subject.txt`, `<kind>.txt`, `<kind>.html` for every language; each part
//! is looked up in that order, then in the built-in language, then in English. The HTML
//! body, unless overridden, is the chosen text, escaped, with the link made clickable.
//! Placeholders: `{{link}}`, `{{code}}` (the one-time code of `signin-otp`), `{{email}}`
//! (the recipient), `{{newEmail}}` (the new address of an email change),
//! `{{displayName}}`, `{{expiresIn}}`; in HTML they are escaped.

use std::collections::HashMap;
use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use serde::Deserialize;

/// The shipped languages: a code (2 or 3 lower-case letters) and its file.
const BUILT_IN: &[(&str, &str)] = &[
    ("en", include_str!("locales/en.json")),
    ("fr", include_str!("locales/fr.json")),
];

/// The language every message falls back to.
const FALLBACK: &str = "en";

/// The subject and text of one kind in one language.
#[derive(Debug, Deserialize)]
struct Texts {
    subject: String,
    text: String,
}

/// The words of `{{expiresIn}}`; `{n}` is the number.
#[derive(Debug, Deserialize)]
struct Units {
    minute: String,
    minutes: String,
    hour: String,
    hours: String,
}

/// One language's file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Catalogue {
    expires_in: Units,
    #[serde(flatten)]
    kinds: HashMap<String, Texts>,
}

/// The shipped files, parsed once; a file that does not parse is a build mistake the
/// tests catch, and would only cost that language (English is checked the same way).
static CATALOGUES: LazyLock<HashMap<&'static str, Catalogue>> = LazyLock::new(|| {
    BUILT_IN
        .iter()
        .filter_map(|(lang, json)| match serde_json::from_str(json) {
            Ok(catalogue) => Some((*lang, catalogue)),
            Err(err) => {
                tracing::error!(lang, error = %err, "a built-in email language does not parse");
                None
            }
        })
        .collect()
});

/// The language of a user's locale: its first subtag, lower-cased, if it is 2 or 3
/// letters (`fr`, `FR`, `fr-CA` give `fr`); else English. Never anything a path could
/// misread.
pub fn language(locale: &str) -> String {
    let primary = locale
        .split(['-', '_'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if (2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_lowercase()) {
        primary
    } else {
        FALLBACK.into()
    }
}

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
    /// Every kind, for the checks of the shipped languages.
    pub const ALL: [EmailKind; 6] = [
        EmailKind::VerifyEmail,
        EmailKind::PasswordReset,
        EmailKind::EmailChange,
        EmailKind::EmailChanged,
        EmailKind::SigninLink,
        EmailKind::SigninOtp,
    ];

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
    /// Said in the message's language ("24 hours", "24 heures").
    pub expires_in: Duration,
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn fill(
    template: &str,
    values: &Values<'_>,
    expires_in: &str,
    escape: fn(&str) -> String,
) -> String {
    template
        .replace("{{link}}", &escape(values.link))
        .replace("{{code}}", &escape(values.code))
        .replace("{{email}}", &escape(values.email))
        .replace("{{newEmail}}", &escape(values.new_email))
        .replace("{{displayName}}", &escape(values.display_name))
        .replace("{{expiresIn}}", &escape(expires_in))
}

/// "24 hours", "15 minutes", in `units`' language.
fn human(duration: Duration, units: &Units) -> String {
    let minutes = duration.as_secs() / 60;
    let n = |template: &str, n: u64| template.replace("{n}", &n.to_string());
    match minutes {
        m if m >= 120 && m % 60 == 0 => n(&units.hours, m / 60),
        60 => units.hour.clone(),
        1 => units.minute.clone(),
        m => n(&units.minutes, m),
    }
}

/// Renders `kind` in `locale`'s language when there is a translation, else English,
/// preferring the operator's files in `dir` (see the module's description).
pub fn render(kind: EmailKind, locale: &str, dir: Option<&Path>, values: &Values<'_>) -> Rendered {
    let lang = language(locale);
    let file = |suffix: &str| format!("{}.{suffix}", kind.name());
    let read = |suffix: &str| {
        dir.and_then(|dir| {
            std::fs::read_to_string(dir.join(&lang).join(file(suffix)))
                .or_else(|_| std::fs::read_to_string(dir.join(file(suffix))))
                .ok()
        })
    };
    let catalogue = |lang: &str| CATALOGUES.get(lang);
    let built_in = catalogue(&lang)
        .and_then(|c| c.kinds.get(kind.name()))
        .or_else(|| catalogue(FALLBACK).and_then(|c| c.kinds.get(kind.name())));
    let units = catalogue(&lang)
        .or_else(|| catalogue(FALLBACK))
        .map(|c| &c.expires_in);
    let subject = read("subject.txt")
        .or_else(|| built_in.map(|t| t.subject.clone()))
        .unwrap_or_default();
    let text = read("txt")
        .or_else(|| built_in.map(|t| t.text.clone()))
        .unwrap_or_default();
    let html = read("html").unwrap_or_else(|| {
        // The built-in HTML is the text, escaped, with the link made clickable.
        let body = escape_html(&text).replace("{{link}}", "<a href=\"{{link}}\">{{link}}</a>");
        format!(
            "<!doctype html><html><body><p>{}</p></body></html>",
            body.replace("\n\n", "</p><p>").replace('\n', "<br>")
        )
    });
    let expires_in = units.map_or_else(
        || format!("{} minutes", values.expires_in.as_secs() / 60),
        |units| human(values.expires_in, units),
    );
    let keep = |s: &str| s.to_owned();
    Rendered {
        subject: fill(subject.trim(), values, &expires_in, keep),
        text: fill(&text, values, &expires_in, keep),
        html: fill(&html, values, &expires_in, escape_html),
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
            expires_in: Duration::from_secs(86_400),
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
            let r = render(kind, "en", None, &values());
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
        let r = render(EmailKind::SigninOtp, "en", None, &values());
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
        let r = render(EmailKind::SigninOtp, "en", Some(dir.path()), &values());
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
        let r = render(EmailKind::VerifyEmail, "en", Some(dir.path()), &values());
        assert_eq!(r.subject, "Welcome to Acme");
        assert!(r.html.starts_with("<b>Ada &lt;script&gt;</b>"));
        assert!(r.text.contains("Please confirm"), "the text stays built in");
    }

    fn placeholders(text: &str) -> Vec<&str> {
        let mut found: Vec<&str> = text
            .match_indices("{{")
            .filter_map(|(at, _)| text[at..].find("}}").map(|end| &text[at..at + end + 2]))
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    #[test]
    fn every_shipped_language_has_every_kind_with_the_same_placeholders() {
        assert_eq!(CATALOGUES.len(), BUILT_IN.len(), "every file parses");
        let english = &CATALOGUES[FALLBACK];
        for (lang, catalogue) in CATALOGUES.iter() {
            assert_eq!(language(lang), *lang, "codes are 2-3 lower-case letters");
            for kind in EmailKind::ALL {
                let texts = &catalogue.kinds[kind.name()];
                let reference = &english.kinds[kind.name()];
                assert_eq!(
                    placeholders(&texts.text),
                    placeholders(&reference.text),
                    "{lang} {}",
                    kind.name()
                );
                assert!(!texts.subject.trim().is_empty());
            }
            assert_eq!(
                catalogue.kinds.len(),
                EmailKind::ALL.len(),
                "{lang}: no stray kind"
            );
        }
    }

    #[test]
    fn messages_follow_the_locale_and_fall_back_to_english() {
        let fr = render(EmailKind::VerifyEmail, "fr", None, &values());
        assert_eq!(fr.subject, "Confirmez votre adresse e-mail");
        assert!(fr.text.contains("expire dans 24 heures"), "{}", fr.text);
        assert!(fr.html.contains("Ada &lt;script&gt;"));
        assert_eq!(
            render(EmailKind::SigninOtp, "FR-ca", None, &values()).subject,
            "Votre code de connexion"
        );
        for locale in ["de", "", "../", "english"] {
            let r = render(EmailKind::VerifyEmail, locale, None, &values());
            assert_eq!(r.subject, "Verify your email address", "{locale:?}");
            assert!(r.text.contains("expires in 24 hours"));
        }
        assert_eq!(language("../etc"), "en");
        assert_eq!(language("pt-BR"), "pt");
    }

    #[test]
    fn operators_override_per_language_before_every_language() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("fr")).unwrap();
        std::fs::write(
            dir.path().join("fr/signin-link.subject.txt"),
            "Acme : connexion\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("signin-link.subject.txt"), "Acme sign-in\n").unwrap();
        let path = Some(dir.path());
        assert_eq!(
            render(EmailKind::SigninLink, "fr", path, &values()).subject,
            "Acme : connexion"
        );
        assert_eq!(
            render(EmailKind::SigninLink, "de", path, &values()).subject,
            "Acme sign-in"
        );
        let fr = render(EmailKind::SigninLink, "fr", path, &values());
        assert!(
            fr.text.starts_with("Bonjour"),
            "the text stays built in, in French"
        );
    }
}
