-- Tessera as an OAuth 2.1 / OpenID Connect provider: the same tables, columns, constraints
-- and indexes as ../postgres/0012_oauth2_provider.sql (read that file for what each table
-- and column means). Differences forced by SQLite's types, as in 0001:
--   * timestamps are INTEGER microseconds since the Unix epoch (UTC);
--   * UUIDs and hashes are BLOBs, booleans INTEGER 0/1, and the lists (`redirect_uris`,
--     `post_logout_redirect_uris`, `scopes`) JSON arrays in TEXT; `amr` is
--     space-separated, like `sessions.amr`;
--   * SQLite names no unique constraint in its errors, only the columns: the store reports
--     a duplicate client id as `oauth2_clients_pkey`, the Postgres name.
-- The cascades need foreign keys enforced: the store's connections turn them on
-- (`foreign_keys(true)`, PRAGMA foreign_keys = ON).
CREATE TABLE oauth2_clients (
    id                          TEXT NOT NULL,
    name                        TEXT NOT NULL,
    secret_hash                 BLOB,
    redirect_uris               TEXT NOT NULL DEFAULT '[]',
    post_logout_redirect_uris   TEXT NOT NULL DEFAULT '[]',
    scopes                      TEXT NOT NULL DEFAULT '[]',
    first_party                 INTEGER NOT NULL DEFAULT 0,
    dynamic                     INTEGER NOT NULL DEFAULT 0,
    created_at                  INTEGER NOT NULL,
    updated_at                  INTEGER NOT NULL,
    CONSTRAINT oauth2_clients_pkey PRIMARY KEY (id)
);
CREATE INDEX oauth2_clients_created_at_idx ON oauth2_clients (created_at, id);

CREATE TABLE oauth2_consents (
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL REFERENCES oauth2_clients (id) ON DELETE CASCADE,
    scopes      TEXT NOT NULL DEFAULT '[]',
    granted_at  INTEGER NOT NULL,
    CONSTRAINT oauth2_consents_pkey PRIMARY KEY (user_id, client_id)
);
CREATE INDEX oauth2_consents_client_id_idx ON oauth2_consents (client_id);

CREATE TABLE oauth2_requests (
    id                  BLOB PRIMARY KEY NOT NULL,
    client_id           TEXT NOT NULL REFERENCES oauth2_clients (id) ON DELETE CASCADE,
    redirect_uri        TEXT NOT NULL,
    scopes              TEXT NOT NULL DEFAULT '[]',
    state               TEXT,
    nonce               TEXT,
    code_challenge      TEXT NOT NULL,
    browser_hash        BLOB,
    created_at          INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    user_id             BLOB REFERENCES users (id) ON DELETE CASCADE,
    auth_time           INTEGER,
    amr                 TEXT NOT NULL DEFAULT '',
    code_hash           BLOB,
    code_expires_at     INTEGER,
    redeemed_at         INTEGER,
    -- No foreign key: sessions are pruned (see the Postgres migration).
    session_id          BLOB,
    reused_at           INTEGER,
    CONSTRAINT oauth2_requests_code_hash_key UNIQUE (code_hash)
);
CREATE INDEX oauth2_requests_client_id_idx ON oauth2_requests (client_id);
CREATE INDEX oauth2_requests_user_id_idx ON oauth2_requests (user_id);
CREATE INDEX oauth2_requests_unapproved_expires_at_idx ON oauth2_requests (expires_at)
    WHERE code_hash IS NULL;
CREATE INDEX oauth2_requests_unredeemed_code_expires_at_idx
    ON oauth2_requests (code_expires_at)
    WHERE code_hash IS NOT NULL AND redeemed_at IS NULL;
CREATE INDEX oauth2_requests_redeemed_at_idx ON oauth2_requests (redeemed_at)
    WHERE redeemed_at IS NOT NULL;

CREATE TABLE oauth2_grants (
    session_id  BLOB PRIMARY KEY NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL REFERENCES oauth2_clients (id) ON DELETE CASCADE,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scopes      TEXT NOT NULL DEFAULT '[]',
    created_at  INTEGER NOT NULL
);
CREATE INDEX oauth2_grants_user_client_idx ON oauth2_grants (user_id, client_id);
CREATE INDEX oauth2_grants_client_id_idx ON oauth2_grants (client_id);
