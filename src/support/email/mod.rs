//! Sending email: SMTP (`TESSERA_SMTP_URL`) or, without it, files in an outbox directory
//! (`data/outbox/`, for development). Messages go out in the background with retries; a
//! failure is logged with the kind and the recipient's domain, never the link or code.

pub mod templates;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::config::EmailConfig;
use crate::support::owner_only;
pub use templates::EmailKind;

/// Delays before the second and third attempts.
const RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(5)];

/// Why the mail settings cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("email settings: {0}")]
pub struct MailError(String);

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(PathBuf),
}

/// One message to send.
#[derive(Debug, Clone)]
pub struct Email {
    pub to: String,
    pub kind: EmailKind,
    /// The link of the message; empty for a one-time code.
    pub link: String,
    /// The one-time code of a `signin-otp` message (for `{{code}}`); empty otherwise.
    pub code: SecretString,
    /// The new address of an email change (for `{{newEmail}}`); empty otherwise.
    pub new_email: String,
    pub display_name: String,
    /// The recipient user's locale: the message's language when a translation exists.
    pub locale: String,
    pub expires_in: Duration,
}

/// Sends messages.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    templates_dir: Option<PathBuf>,
}

fn smtp(url: &str) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let url = Url::parse(url).map_err(|e| MailError(format!("TESSERA_SMTP_URL: {e}")))?;
    let host = url.host_str().unwrap_or_default().to_owned();
    let tls = |host: &str| {
        TlsParameters::new(host.to_owned()).map_err(|e| MailError(format!("TLS for {host}: {e}")))
    };
    let starttls_required = url
        .query_pairs()
        .any(|(k, v)| k == "starttls" && v == "required");
    let (mode, default_port) = match url.scheme() {
        // Implicit TLS from the first byte.
        "smtps" => (Tls::Wrapper(tls(&host)?), 465),
        // STARTTLS when the server offers it (or always, with ?starttls=required).
        _ if starttls_required => (Tls::Required(tls(&host)?), 587),
        _ => (Tls::Opportunistic(tls(&host)?), 25),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(url.port().unwrap_or(default_port))
        .tls(mode)
        .timeout(Some(Duration::from_secs(10)));
    if !url.username().is_empty() {
        let decode = |s: &str| percent_decode(s);
        builder = builder.credentials(Credentials::new(
            decode(url.username()),
            decode(url.password().unwrap_or_default()),
        ));
    }
    Ok(builder.build())
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

impl Mailer {
    /// The mailer the configuration describes.
    pub fn new(config: &EmailConfig) -> Result<Self, MailError> {
        let transport = match &config.smtp_url {
            Some(url) => Transport::Smtp(smtp(url.expose_secret())?),
            None => Transport::Outbox(config.outbox_dir.clone()),
        };
        Ok(Self {
            transport,
            from: config
                .from
                .parse()
                .map_err(|e| MailError(format!("TESSERA_EMAIL_FROM: {e}")))?,
            templates_dir: config.templates_dir.clone(),
        })
    }

    /// Queues `email`: rendered now, delivered in the background with retries.
    pub fn send(self: &Arc<Self>, email: Email) {
        let mailer = Arc::clone(self);
        tokio::spawn(async move { mailer.deliver_with_retries(email).await });
    }

    fn message(&self, email: &Email) -> Result<Message, String> {
        let rendered = templates::render(
            email.kind,
            &email.locale,
            self.templates_dir.as_deref(),
            &templates::Values {
                link: &email.link,
                code: email.code.expose_secret(),
                email: &email.to,
                new_email: &email.new_email,
                display_name: &email.display_name,
                expires_in: email.expires_in,
            },
        );
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|_| "invalid recipient".to_string())?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject)
            .multipart(MultiPart::alternative_plain_html(
                rendered.text,
                rendered.html,
            ))
            .map_err(|e| e.to_string())
    }

    async fn deliver_with_retries(&self, email: Email) {
        let domain = email.to.rsplit('@').next().unwrap_or_default().to_owned();
        let kind = email.kind.name();
        let message = match self.message(&email) {
            Ok(message) => message,
            Err(err) => {
                tracing::error!(kind, %domain, error = %err, "cannot build an email");
                return;
            }
        };
        for attempt in 0..=RETRY_DELAYS.len() {
            match self.deliver(&message).await {
                Ok(()) => {
                    tracing::info!(kind, %domain, "email sent");
                    return;
                }
                Err(err) => {
                    tracing::warn!(kind, %domain, attempt = attempt + 1, error = %err, "email delivery failed");
                    if let Some(delay) = RETRY_DELAYS.get(attempt) {
                        tokio::time::sleep(*delay).await;
                    }
                }
            }
        }
        tracing::error!(kind, %domain, "email not delivered after retries");
    }

    async fn deliver(&self, message: &Message) -> Result<(), String> {
        match &self.transport {
            Transport::Smtp(smtp) => smtp
                .send(message.clone())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Transport::Outbox(dir) => {
                // Messages carry sign-in links and tickets: owner-only, like the database.
                let name = format!(
                    "{}-{}.eml",
                    time::OffsetDateTime::now_utc().unix_timestamp_nanos(),
                    uuid::Uuid::new_v4().simple()
                );
                let (dir, formatted) = (dir.clone(), message.formatted());
                tokio::task::spawn_blocking(move || {
                    owner_only::create_dir(&dir)?;
                    owner_only::create_file(&dir.join(name), &formatted)
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())
            }
        }
    }
}
