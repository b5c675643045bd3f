-- A second factor: TOTP with single-use recovery codes. The same change as
-- ../postgres/0007_totp.sql (read that file for the why): `users.active_mfa_type` (NULL or
-- 'totp'), the sealed secret with its confirmation time and the last accepted time step
-- (the replay guard), and HMAC tags of the recovery codes. Both tables go with their user.
ALTER TABLE users ADD COLUMN active_mfa_type TEXT CHECK (active_mfa_type IN ('totp'));

CREATE TABLE totp_secrets (
    user_id         BLOB PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed   BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    confirmed_at    INTEGER,
    last_used_step  INTEGER
);

CREATE TABLE mfa_recovery_codes (
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash   BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    used_at     INTEGER,
    PRIMARY KEY (user_id, code_hash)
);
