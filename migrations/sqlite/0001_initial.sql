-- Tessera's whole schema, SQLite flavour: the same tables, columns and constraints as
-- ../postgres/0001_initial.sql (read that file for what each column means). Differences
-- forced by SQLite's types:
--   * timestamps are INTEGER microseconds since the Unix epoch (UTC), so that comparisons
--     and ordering are numeric, never textual;
--   * UUIDs are 16-byte BLOBs, JSON is TEXT, booleans are INTEGER 0/1.
-- This file is never edited once released; later changes are new numbered migrations.

CREATE TABLE users (
    id                      BLOB PRIMARY KEY NOT NULL,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL,
    email                   TEXT COLLATE NOCASE,
    email_verified          INTEGER NOT NULL DEFAULT 0,
    new_email               TEXT,
    phone_number            TEXT,
    phone_number_verified   INTEGER NOT NULL DEFAULT 0,
    password_hash           TEXT,
    password_changed_at     INTEGER,
    display_name            TEXT NOT NULL DEFAULT '',
    avatar_url              TEXT NOT NULL DEFAULT '',
    locale                  TEXT NOT NULL DEFAULT 'en',
    default_role            TEXT NOT NULL DEFAULT 'user',
    roles                   TEXT NOT NULL DEFAULT '["user"]',
    is_anonymous            INTEGER NOT NULL DEFAULT 0,
    metadata                TEXT NOT NULL DEFAULT '{}',
    disabled                INTEGER NOT NULL DEFAULT 0,
    last_seen_at            INTEGER
);
-- NOCASE on the column makes this index case-insensitive, like lower(email) in Postgres.
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_created_at_idx ON users (created_at, id);

CREATE TABLE sessions (
    id                      BLOB PRIMARY KEY NOT NULL,
    user_id                 BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at              INTEGER NOT NULL,
    last_used_at            INTEGER NOT NULL,
    expires_at              INTEGER NOT NULL,
    absolute_expires_at     INTEGER,
    revoked_at              INTEGER,
    revoked_reason          TEXT,
    user_agent              TEXT NOT NULL DEFAULT '',
    ip                      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE refresh_tokens (
    id                      BLOB PRIMARY KEY NOT NULL,
    session_id              BLOB NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    token_hash              BLOB NOT NULL,
    created_at              INTEGER NOT NULL,
    expires_at              INTEGER NOT NULL,
    rotated_at              INTEGER,
    successor_id            BLOB REFERENCES refresh_tokens (id) ON DELETE SET NULL,
    successor_sealed        BLOB,
    CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);

CREATE TABLE signing_keys (
    kid                     TEXT PRIMARY KEY NOT NULL,
    algorithm               TEXT NOT NULL DEFAULT 'ES256',
    public_jwk              TEXT NOT NULL,
    private_key             BLOB NOT NULL,
    encryption              TEXT NOT NULL,
    origin                  TEXT NOT NULL,
    created_at              INTEGER NOT NULL,
    published_at            INTEGER NOT NULL,
    activates_at            INTEGER NOT NULL,
    retires_at              INTEGER,
    expires_at              INTEGER
);
CREATE INDEX signing_keys_activates_at_idx ON signing_keys (activates_at);

CREATE TABLE tickets (
    id                      BLOB PRIMARY KEY NOT NULL,
    user_id                 BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose                 TEXT NOT NULL,
    ticket_hash             BLOB NOT NULL,
    created_at              INTEGER NOT NULL,
    expires_at              INTEGER NOT NULL,
    used_at                 INTEGER,
    redirect_to             TEXT,
    code_challenge          TEXT,
    payload                 TEXT NOT NULL DEFAULT '{}',
    CONSTRAINT tickets_ticket_hash_key UNIQUE (ticket_hash)
);
CREATE INDEX tickets_user_id_idx ON tickets (user_id);
CREATE INDEX tickets_expires_at_idx ON tickets (expires_at);

CREATE TABLE rate_limits (
    key                     TEXT PRIMARY KEY NOT NULL,
    window_started_at       INTEGER NOT NULL,
    hits                    INTEGER NOT NULL
);

CREATE TABLE security_events (
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at             INTEGER NOT NULL,
    kind                    TEXT NOT NULL,
    user_id                 BLOB,
    session_id              BLOB,
    ip                      TEXT NOT NULL DEFAULT '',
    user_agent              TEXT NOT NULL DEFAULT '',
    detail                  TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX security_events_occurred_at_idx ON security_events (occurred_at);
CREATE INDEX security_events_user_id_idx ON security_events (user_id, occurred_at);
CREATE INDEX security_events_kind_idx ON security_events (kind, occurred_at);
