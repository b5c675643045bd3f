-- Passkeys (WebAuthn).
--
--   * `webauthn_credentials`: one row per registered passkey. `credential_id` is the
--     authenticator's id for it, unique across all users (a credential cannot belong to two
--     accounts). `passkey` is webauthn-rs's serialised credential (public key, counter,
--     flags, registration policy): what the ceremony checks verify against. `counter`,
--     `backup_eligible`, `backup_state` and `transports` repeat what the ceremonies saw,
--     readable by SQL and by the list routes; `counter` is the clone guard: an assertion is
--     accepted only with a higher count than stored, by one conditional UPDATE, unless the
--     authenticator keeps no counter (0, as synced passkeys).
--   * `webauthn_ceremonies`: a ceremony begun by an options route and not yet finished. It
--     is found by the SHA-256 of its challenge (the verify request carries the challenge in
--     its client data) and deleted when finished (single use: one DELETE ... RETURNING, so
--     of two verifies of one challenge one wins). `state` is webauthn-rs's serialised
--     ceremony state, kept here so that any replica can finish what another began, and
--     never sent to a client. `user_id`/`session_id` bind a ceremony to who began it.
--     Expired rows are swept by upkeep.
CREATE TABLE webauthn_credentials (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id   BYTEA NOT NULL,
    passkey         JSONB NOT NULL,
    counter         BIGINT NOT NULL DEFAULT 0,
    backup_eligible BOOLEAN NOT NULL DEFAULT FALSE,
    backup_state    BOOLEAN NOT NULL DEFAULT FALSE,
    transports      JSONB NOT NULL DEFAULT '[]',
    nickname        TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    last_used_at    TIMESTAMPTZ,
    CONSTRAINT webauthn_credentials_credential_id_key UNIQUE (credential_id)
);
CREATE INDEX webauthn_credentials_user_id_idx ON webauthn_credentials (user_id);

CREATE TABLE webauthn_ceremonies (
    challenge_hash  BYTEA PRIMARY KEY,
    -- 'signup', 'signin', 'add', 'elevate', 'second-factor'.
    purpose         TEXT NOT NULL,
    user_id         UUID REFERENCES users (id) ON DELETE CASCADE,
    session_id      UUID,
    state           JSONB NOT NULL,
    -- Purpose-specific data: the sign-up's email and options, an MFA ticket's hash.
    payload         JSONB NOT NULL DEFAULT '{}',
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX webauthn_ceremonies_expires_at_idx ON webauthn_ceremonies (expires_at);
