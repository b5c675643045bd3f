-- Passkeys (WebAuthn). The same change as ../postgres/0008_passkeys.sql (read that file
-- for the why): registered credentials (unique credential id, webauthn-rs's serialised
-- credential, the counter that guards against clones, the backup flags, transports and the
-- user's name for it), and the ceremonies begun and not yet finished, found by the hash of
-- their challenge and deleted when finished.
CREATE TABLE webauthn_credentials (
    id              BLOB PRIMARY KEY NOT NULL,
    user_id         BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id   BLOB NOT NULL,
    passkey         TEXT NOT NULL,
    counter         INTEGER NOT NULL DEFAULT 0,
    backup_eligible INTEGER NOT NULL DEFAULT 0,
    backup_state    INTEGER NOT NULL DEFAULT 0,
    transports      TEXT NOT NULL DEFAULT '[]',
    nickname        TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER,
    CONSTRAINT webauthn_credentials_credential_id_key UNIQUE (credential_id)
);
CREATE INDEX webauthn_credentials_user_id_idx ON webauthn_credentials (user_id);

CREATE TABLE webauthn_ceremonies (
    challenge_hash  BLOB PRIMARY KEY NOT NULL,
    purpose         TEXT NOT NULL,
    user_id         BLOB REFERENCES users (id) ON DELETE CASCADE,
    session_id      BLOB,
    state           TEXT NOT NULL,
    payload         TEXT NOT NULL DEFAULT '{}',
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
);
CREATE INDEX webauthn_ceremonies_expires_at_idx ON webauthn_ceremonies (expires_at);
