-- A second factor: TOTP (RFC 6238) with single-use recovery codes.
--
--   * `users.active_mfa_type`: NULL, or 'totp' once the user has confirmed a secret with a
--     code. Read with every user row; password sign-in, sign-in links and email codes then
--     answer a ticket for `POST /signin/mfa/totp` instead of a session.
--   * `totp_secrets`: one row per user. `secret_sealed` is the 20-byte secret sealed with
--     AES-256-GCM under a key derived from the key-encryption key (bound to the user id),
--     so a dump alone does not give the codes. `confirmed_at` is NULL while the secret is
--     pending (generated, not yet confirmed with a code); a pending secret may be replaced,
--     an enabled one never is (the store's conditional upsert). `last_used_step` is the
--     replay guard of RFC 6238 section 5.2: a code is accepted only for a time step after
--     the last accepted one, by one conditional UPDATE, so each 30-second step opens at
--     most one door per user, across replicas.
--   * `mfa_recovery_codes`: HMAC-SHA256 tags of the ten recovery codes (keyed like the
--     secret's sealing key, never a bare hash of ~50 bits); `used_at` set by one
--     conditional UPDATE when one is spent. They are written with the pending secret and
--     only count while `active_mfa_type = 'totp'`.
--
-- Both tables go with their user (ON DELETE CASCADE): deleting a user or pruning an
-- anonymous one removes them.
ALTER TABLE users
    ADD COLUMN active_mfa_type TEXT CHECK (active_mfa_type IN ('totp'));

CREATE TABLE totp_secrets (
    user_id         UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed   BYTEA NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    confirmed_at    TIMESTAMPTZ,
    last_used_step  BIGINT
);

CREATE TABLE mfa_recovery_codes (
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash   BYTEA NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    PRIMARY KEY (user_id, code_hash)
);
