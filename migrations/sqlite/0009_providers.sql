-- Social and enterprise sign-in: see the Postgres migration of the same name.
CREATE TABLE user_providers (
    id           BLOB PRIMARY KEY NOT NULL,
    user_id      BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider     TEXT NOT NULL,
    subject      TEXT NOT NULL,
    email        TEXT,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    CONSTRAINT user_providers_provider_subject_key UNIQUE (provider, subject),
    CONSTRAINT user_providers_user_provider_key UNIQUE (user_id, provider)
);

CREATE TABLE provider_flows (
    state_hash     BLOB PRIMARY KEY NOT NULL,
    provider       TEXT NOT NULL,
    browser_hash   BLOB NOT NULL,
    nonce          TEXT NOT NULL,
    pkce_verifier  TEXT NOT NULL,
    redirect_to    TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    link_user_id   BLOB REFERENCES users (id) ON DELETE CASCADE,
    payload        TEXT NOT NULL DEFAULT '{}',
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
);
CREATE INDEX provider_flows_expires_at_idx ON provider_flows (expires_at);
