-- Scratch tables shaped like Tessera's users, sessions and refresh_tokens
-- (migrations/postgres/0001_initial.sql: same columns, keys, foreign keys and indexes), for
-- the pgbench floors (rotation.sql, liveness.sql). Scripts pick rows at random by number:
-- token n's hash is sha256('n'), session k's id is md5('s' || k)::uuid and its user's
-- md5('u' || k)::uuid. :tokens (psql variable) is how many tokens to create, 10 per session
-- and one user per session.

CREATE TABLE bench_users (
    id                      UUID PRIMARY KEY,
    created_at              TIMESTAMPTZ NOT NULL,
    updated_at              TIMESTAMPTZ NOT NULL,
    email                   TEXT,
    email_verified          BOOLEAN NOT NULL DEFAULT FALSE,
    new_email               TEXT,
    phone_number            TEXT,
    phone_number_verified   BOOLEAN NOT NULL DEFAULT FALSE,
    password_hash           TEXT,
    password_changed_at     TIMESTAMPTZ,
    display_name            TEXT NOT NULL DEFAULT '',
    avatar_url              TEXT NOT NULL DEFAULT '',
    locale                  TEXT NOT NULL DEFAULT 'en',
    default_role            TEXT NOT NULL DEFAULT 'user',
    roles                   JSONB NOT NULL DEFAULT '["user"]',
    is_anonymous            BOOLEAN NOT NULL DEFAULT FALSE,
    metadata                JSONB NOT NULL DEFAULT '{}',
    disabled                BOOLEAN NOT NULL DEFAULT FALSE,
    last_seen_at            TIMESTAMPTZ
);
CREATE UNIQUE INDEX bench_users_email_key ON bench_users (lower(email));
CREATE INDEX bench_users_created_at_idx ON bench_users (created_at, id);

CREATE TABLE bench_sessions (
    id                      UUID PRIMARY KEY,
    user_id                 UUID NOT NULL REFERENCES bench_users (id) ON DELETE CASCADE,
    created_at              TIMESTAMPTZ NOT NULL,
    last_used_at            TIMESTAMPTZ NOT NULL,
    expires_at              TIMESTAMPTZ NOT NULL,
    absolute_expires_at     TIMESTAMPTZ,
    revoked_at              TIMESTAMPTZ,
    revoked_reason          TEXT,
    user_agent              TEXT NOT NULL DEFAULT '',
    ip                      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX bench_sessions_user_id_idx ON bench_sessions (user_id);
CREATE INDEX bench_sessions_expires_at_idx ON bench_sessions (expires_at);

CREATE TABLE bench_refresh_tokens (
    id                      UUID PRIMARY KEY,
    session_id              UUID NOT NULL REFERENCES bench_sessions (id) ON DELETE CASCADE,
    token_hash              BYTEA NOT NULL,
    created_at              TIMESTAMPTZ NOT NULL,
    expires_at              TIMESTAMPTZ NOT NULL,
    rotated_at              TIMESTAMPTZ,
    successor_id            UUID REFERENCES bench_refresh_tokens (id) ON DELETE SET NULL,
    successor_sealed        BYTEA,
    CONSTRAINT bench_refresh_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX bench_refresh_tokens_session_id_idx ON bench_refresh_tokens (session_id);
CREATE INDEX bench_refresh_tokens_expires_at_idx ON bench_refresh_tokens (expires_at);

INSERT INTO bench_users (id, created_at, updated_at, email, password_hash)
SELECT md5('u' || k)::uuid, now(), now(), 'user' || k || '@example.com',
       '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g'
FROM generate_series(1, :tokens / 10) AS k;

INSERT INTO bench_sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, ip)
SELECT md5('s' || k)::uuid, md5('u' || k)::uuid, now(), now(), now() + interval '30 days',
       'bench', '127.0.0.1'
FROM generate_series(1, :tokens / 10) AS k;

INSERT INTO bench_refresh_tokens (id, session_id, token_hash, created_at, expires_at)
SELECT gen_random_uuid(), md5('s' || ((n - 1) / 10 + 1))::uuid,
       sha256(convert_to(n::text, 'UTF8')), now(), now() + interval '30 days'
FROM generate_series(1, :tokens) AS n;

VACUUM ANALYZE bench_users;
VACUUM ANALYZE bench_sessions;
VACUUM ANALYZE bench_refresh_tokens;
