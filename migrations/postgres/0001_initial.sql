-- Tessera's whole schema, Postgres flavour. The SQLite flavour in ../sqlite mirrors it table
-- for table; both are checked by the same test suite.
--
-- Rules that hold everywhere:
--   * Every timestamp is written by Tessera from its own clock (never `now()` in SQL), so
--     expiry and grace windows can be tested with an injected clock.
--   * No secret is stored in a usable form: refresh tokens and tickets only as SHA-256
--     hashes, passwords only as argon2id PHC strings, private keys optionally encrypted.
--   * This file is never edited once released; later changes are new numbered migrations.

-- People (and anonymous visitors) who can sign in.
CREATE TABLE users (
    id                      UUID PRIMARY KEY,
    created_at              TIMESTAMPTZ NOT NULL,
    updated_at              TIMESTAMPTZ NOT NULL,
    -- Stored normalised (trimmed, lower-cased); NULL only for anonymous users.
    email                   TEXT,
    email_verified          BOOLEAN NOT NULL DEFAULT FALSE,
    -- An email change waits here until the new address is confirmed.
    new_email               TEXT,
    phone_number            TEXT,
    phone_number_verified   BOOLEAN NOT NULL DEFAULT FALSE,
    -- argon2id PHC string; NULL for users who sign in only by emailed link or anonymously.
    password_hash           TEXT,
    -- Sessions issued before this instant (other than the one that changed it) are dead.
    password_changed_at     TIMESTAMPTZ,
    display_name            TEXT NOT NULL DEFAULT '',
    avatar_url              TEXT NOT NULL DEFAULT '',
    locale                  TEXT NOT NULL DEFAULT 'en',
    default_role            TEXT NOT NULL DEFAULT 'user',
    -- JSON array of role names; always contains default_role.
    roles                   JSONB NOT NULL DEFAULT '["user"]',
    is_anonymous            BOOLEAN NOT NULL DEFAULT FALSE,
    -- Free-form JSON object supplied at sign-up or by an admin.
    metadata                JSONB NOT NULL DEFAULT '{}',
    -- A disabled user can neither sign in nor refresh.
    disabled                BOOLEAN NOT NULL DEFAULT FALSE,
    last_seen_at            TIMESTAMPTZ
);
-- Emails are unique whatever their case, even if a row were written un-normalised.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_created_at_idx ON users (created_at, id);

-- One row per sign-in. Its id is the `sid` claim and the Session's `refreshTokenId`,
-- stable across rotations.
CREATE TABLE sessions (
    id                      UUID PRIMARY KEY,
    user_id                 UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at              TIMESTAMPTZ NOT NULL,
    -- Last successful refresh (or the sign-in itself).
    last_used_at            TIMESTAMPTZ NOT NULL,
    -- Sliding expiry: moved forward by each rotation, never past absolute_expires_at.
    expires_at              TIMESTAMPTZ NOT NULL,
    -- TESSERA_SESSION_MAX_AGE after creation; NULL when no cap is configured.
    absolute_expires_at     TIMESTAMPTZ,
    -- Set once; a revoked session never comes back.
    revoked_at              TIMESTAMPTZ,
    -- Why: 'signout', 'signout-all', 'reuse-detected', 'password-changed', 'admin', ...
    revoked_reason          TEXT,
    user_agent              TEXT NOT NULL DEFAULT '',
    ip                      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- Every refresh token ever issued in a session, newest last. Only the SHA-256 of the
-- token is kept: a dump of this table yields nothing that can be presented to /token.
CREATE TABLE refresh_tokens (
    id                      UUID PRIMARY KEY,
    session_id              UUID NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    token_hash              BYTEA NOT NULL,
    created_at              TIMESTAMPTZ NOT NULL,
    expires_at              TIMESTAMPTZ NOT NULL,
    -- When this token was exchanged for its successor; NULL while it is the live one.
    rotated_at              TIMESTAMPTZ,
    successor_id            UUID REFERENCES refresh_tokens (id) ON DELETE SET NULL,
    -- The successor token, AES-256-GCM-sealed under a key derived from *this* token, so
    -- that a retry inside the grace window can be answered with the same successor while
    -- the database alone still reveals nothing. Cleared when the grace window is over.
    successor_sealed        BYTEA,
    CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);

-- ES256 signing keys. A key is published in the JWKS from `published_at`, signs from
-- `activates_at` until the next key activates (`retires_at`), and stays published until
-- `expires_at` (every token it signed has expired, plus one JWKS cache lifetime).
CREATE TABLE signing_keys (
    -- RFC 7638 thumbprint of the public JWK.
    kid                     TEXT PRIMARY KEY,
    algorithm               TEXT NOT NULL DEFAULT 'ES256',
    -- The public JWK as served in the JWKS.
    public_jwk              JSONB NOT NULL,
    -- PKCS#8 DER; AES-256-GCM ciphertext (nonce || ciphertext || tag) when encrypted.
    private_key             BYTEA NOT NULL,
    -- 'none' or 'aes-256-gcm' (TESSERA_KEY_ENCRYPTION_KEY).
    encryption              TEXT NOT NULL,
    -- 'generated' or 'imported'.
    origin                  TEXT NOT NULL,
    created_at              TIMESTAMPTZ NOT NULL,
    published_at            TIMESTAMPTZ NOT NULL,
    activates_at            TIMESTAMPTZ NOT NULL,
    retires_at              TIMESTAMPTZ,
    expires_at              TIMESTAMPTZ
);
CREATE INDEX signing_keys_activates_at_idx ON signing_keys (activates_at);

-- One-time tickets for emailed links (verification, reset, email change, magic link) and
-- the one-time codes an app exchanges for a session (PKCE). Stored hashed, single use.
CREATE TABLE tickets (
    id                      UUID PRIMARY KEY,
    user_id                 UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- 'verify-email', 'password-reset', 'email-change', 'signin-link', 'exchange-code'.
    purpose                 TEXT NOT NULL,
    ticket_hash             BYTEA NOT NULL,
    created_at              TIMESTAMPTZ NOT NULL,
    expires_at              TIMESTAMPTZ NOT NULL,
    used_at                 TIMESTAMPTZ,
    redirect_to             TEXT,
    -- PKCE S256 challenge the redeemer must answer.
    code_challenge          TEXT,
    -- Purpose-specific data, e.g. the new address of an email change.
    payload                 JSONB NOT NULL DEFAULT '{}',
    CONSTRAINT tickets_ticket_hash_key UNIQUE (ticket_hash)
);
CREATE INDEX tickets_user_id_idx ON tickets (user_id);
CREATE INDEX tickets_expires_at_idx ON tickets (expires_at);

-- Counters that must hold across replicas (failed sign-ins per account, for instance).
CREATE TABLE rate_limits (
    -- e.g. 'signin-failure:<user id>'.
    key                     TEXT PRIMARY KEY,
    window_started_at       TIMESTAMPTZ NOT NULL,
    hits                    INTEGER NOT NULL
);

-- What happened, for operators and for users' own security pages. Never a secret.
-- user_id and session_id carry no foreign key: the record outlives what it describes.
CREATE TABLE security_events (
    id                      BIGSERIAL PRIMARY KEY,
    occurred_at             TIMESTAMPTZ NOT NULL,
    -- 'signin-succeeded', 'signin-failed', 'signup', 'refresh-reuse-detected',
    -- 'session-revoked', 'password-changed', 'password-reset', 'email-changed',
    -- 'user-disabled', 'admin-action', ...
    kind                    TEXT NOT NULL,
    user_id                 UUID,
    session_id              UUID,
    ip                      TEXT NOT NULL DEFAULT '',
    user_agent              TEXT NOT NULL DEFAULT '',
    -- Kind-specific detail (a cause, who acted), never a token or password.
    detail                  JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX security_events_occurred_at_idx ON security_events (occurred_at);
CREATE INDEX security_events_user_id_idx ON security_events (user_id, occurred_at);
CREATE INDEX security_events_kind_idx ON security_events (kind, occurred_at);
