//! The application: configuration in, a bound listener and a running server out.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::domain::admin::Admin;
use crate::domain::anonymous::AnonymousUsers;
use crate::domain::devices::DeviceCookies;
use crate::domain::email_otp::EmailOtp;
use crate::domain::email_password::EmailPassword;
use crate::domain::health::Health;
use crate::domain::keys::KeyService;
use crate::domain::links::EmailLinks;
use crate::domain::mfa::SecondFactor;
use crate::domain::oauth2::OAuthProvider;
use crate::domain::passkeys::Passkeys;
use crate::domain::passwords::Passwords;
use crate::domain::pats::PersonalAccessTokens;
use crate::domain::providers::Providers;
use crate::domain::rate_limits::IpLimits;
use crate::domain::sessions::{RefreshTokens, Sessions};
use crate::domain::signup_policy::SignUpPolicy;
use crate::domain::tokens::TokenIssuer;
use crate::domain::upkeep;
use crate::http::{self, AppState};
use crate::store::{self, Store};
use crate::support::clock::Clock;
use crate::support::email::Mailer;

/// A Tessera server, bound and ready to serve.
pub struct Application {
    listener: TcpListener,
    /// `/metrics` on a listener of its own (`TESSERA_METRICS_LISTEN`).
    metrics_listener: Option<TcpListener>,
    /// The store the services share: the server closes it at shutdown, tests reach it.
    store: Arc<dyn Store>,
    state: AppState,
}

impl Application {
    /// Connects to the database, applies migrations and binds the listener (port 0 picks a
    /// free one, which tests use).
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let described = config.database.describe();
        if !config.cookies.secure {
            tracing::warn!(
                "TESSERA_COOKIE_SECURE=false: cookies are sent over plain http; use this for local development only"
            );
        }
        let store = store::connect(&config.database)
            .await
            .with_context(|| format!("cannot open the database {described}"))?;
        store
            .migrate()
            .await
            .with_context(|| format!("cannot migrate the database {described}"))?;
        let keys = KeyService::start(
            store.clone(),
            clock.clone(),
            &config.keys,
            &config.database.location,
            config.tokens.access_token_ttl,
        )
        .await
        .context("cannot load the signing keys")?;
        let tokens = Arc::new(TokenIssuer::new(keys, &config.tokens));
        tokens
            .self_test(clock.now())
            .map_err(|err| anyhow::anyhow!("signing self-test failed: {err}"))?;
        let passwords = Arc::new(
            Passwords::new(&config.passwords).context("invalid password hashing settings")?,
        );
        let refresh_tokens = RefreshTokens::load(
            &store,
            &clock,
            tokens.keys().derived_secret(RefreshTokens::DERIVED_PURPOSE),
        )
        .await
        .context("cannot load the refresh-token key")?;
        let sessions = Arc::new(Sessions::new(
            store.clone(),
            clock.clone(),
            tokens.clone(),
            refresh_tokens,
            &config.sessions,
        ));
        let mailer = Arc::new(Mailer::new(&config.email)?);
        let policy = SignUpPolicy::new(&config.accounts, &config.server.public_url);
        let mfa = Arc::new(
            SecondFactor::load(
                store.clone(),
                clock.clone(),
                sessions.clone(),
                tokens.keys().derived_secret(SecondFactor::DERIVED_PURPOSE),
                &config.mfa,
                config.rate_limits.failed_signins_per_account,
            )
            .await
            .context("cannot load the second-factor secret")?,
        );
        let links = Arc::new(EmailLinks::new(
            store.clone(),
            clock.clone(),
            mailer.clone(),
            passwords.clone(),
            mfa.clone(),
            policy.clone(),
            config.rate_limits.failed_signins_per_account,
        ));
        let email_otp = Arc::new(
            EmailOtp::load(
                links.clone(),
                store.clone(),
                clock.clone(),
                mailer,
                mfa.clone(),
                tokens.keys().derived_secret(EmailOtp::DERIVED_PURPOSE),
                config.rate_limits.failed_signins_per_account,
            )
            .await
            .context("cannot load the email-code secret")?,
        );
        let anonymous = Arc::new(AnonymousUsers::new(
            store.clone(),
            clock.clone(),
            passwords.clone(),
            sessions.clone(),
            policy,
            links.clone(),
        ));
        let admin = Arc::new(Admin::new(
            store.clone(),
            clock.clone(),
            passwords.clone(),
            tokens.keys().clone(),
            config.accounts.roles.clone(),
            config.server.admin_secret.as_ref(),
        ));
        let devices = Arc::new(
            DeviceCookies::load(&store, &clock, config.cookies.device_ttl)
                .await
                .context("cannot load the device-cookie secret")?,
        );
        let email_password = Arc::new(EmailPassword::new(
            store.clone(),
            clock.clone(),
            passwords,
            mfa.clone(),
            links.clone(),
            devices,
            config.rate_limits.failed_signins_per_account,
        ));
        let pats = Arc::new(PersonalAccessTokens::new(
            store.clone(),
            clock.clone(),
            sessions.clone(),
        ));
        let passkeys = Arc::new(
            Passkeys::new(
                store.clone(),
                clock.clone(),
                &config.webauthn,
                mfa.clone(),
                links.clone(),
            )
            .context("cannot set up passkeys (TESSERA_WEBAUTHN_*)")?,
        );
        if config.webauthn.rp_id.is_none() {
            tracing::warn!(
                "passkeys are off: the public URL's host is an IP address, which no browser accepts as a relying party id; set TESSERA_WEBAUTHN_RP_ID to a domain to turn them on"
            );
        }
        let providers = Arc::new(
            Providers::new(
                store.clone(),
                clock.clone(),
                &config.providers,
                mfa.clone(),
                links.clone(),
            )
            .context("cannot set up sign-in providers (TESSERA_OIDC_*, TESSERA_GITHUB_*)")?,
        );
        if !providers.names().is_empty() {
            tracing::info!(providers = ?providers.names(), "sign-in providers configured");
        }
        let oauth2 = Arc::new(OAuthProvider::new(
            store.clone(),
            clock.clone(),
            sessions.clone(),
            tokens.clone(),
            &config.oauth2,
            &config.tokens,
        ));
        let ip_limits = Arc::new(IpLimits::new(&config.rate_limits));
        let health = Arc::new(Health::new(store.clone(), sessions.liveness().clone()));
        crate::support::metrics::handle();
        let listener = TcpListener::bind(config.server.listen)
            .await
            .with_context(|| {
                format!("cannot listen on {} (TESSERA_LISTEN)", config.server.listen)
            })?;
        let metrics_listener =
            match config.server.metrics_listen {
                Some(address) => Some(TcpListener::bind(address).await.with_context(|| {
                    format!("cannot listen on {address} (TESSERA_METRICS_LISTEN)")
                })?),
                None => None,
            };
        tracing::info!(database = %described, "database ready");
        Ok(Self {
            listener,
            metrics_listener,
            store,
            state: AppState {
                config: Arc::new(config),
                clock,
                health,
                tokens,
                sessions,
                email_password,
                links,
                anonymous,
                email_otp,
                mfa,
                passkeys,
                providers,
                oauth2,
                admin,
                pats,
                ip_limits,
            },
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The shared state (tests reach the services and configuration through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The store the services share (tests read and arrange data through it).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish and closes
    /// the database pool.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let store = self.store.clone();
        tracing::info!(
            address = %self.local_addr(),
            public_url = %self.state.config.server.public_url,
            "tessera listening"
        );
        let maintenance = self.state.tokens.keys().spawn_maintenance();
        // The liveness view answers from memory only once this feed has proved a sync.
        let liveness = self.state.sessions.liveness().spawn_feed();
        let cleanup = upkeep::spawn(
            self.store.clone(),
            self.state.clock.clone(),
            upkeep::Retention::of(
                &self.state.config.retention,
                &self.state.config.sessions,
                &self.state.config.rate_limits,
            ),
        );
        let limits = self.state.ip_limits.clone();
        let forget_idle = tokio::spawn(async move {
            let mut interval = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                interval.tick().await;
                limits.forget_idle();
            }
        });
        let connections = self.state.config.server.connections.clone();
        let metrics = self.metrics_listener.map(|listener| {
            let app = http::metrics_router(self.state.clone());
            let connections = connections.clone();
            tokio::spawn(http::server::serve(
                listener,
                app,
                connections,
                std::future::pending(),
            ))
        });
        let app = http::router(self.state);
        http::server::serve(self.listener, app, connections, shutdown).await;
        forget_idle.abort();
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        maintenance.abort();
        cleanup.abort();
        if let Some(liveness) = liveness {
            liveness.abort();
        }
        store.close().await;
        tracing::info!("tessera stopped");
        Ok(())
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
