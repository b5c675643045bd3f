-- Personal access tokens (PATs): long-lived credentials a signed-in user creates for
-- scripts, CLIs and CI (Nhost's `POST /pat`), each exchanged for an ordinary session with
-- `POST /signin/pat`. A PAT never authorises anything by itself: it only starts sessions,
-- so every rule about sessions (disabled users, revocation, short access tokens) applies.
--
-- Stored like refresh tokens: only the SHA-256 of the token is kept, so a dump of this
-- table yields nothing that can be presented to `/signin/pat`. The token is 32 bytes from
-- the OS generator (base64url, after a `tpat_` prefix that secret scanners can match), so a
-- plain hash is enough: there is nothing to brute-force, unlike a password.
--
-- Numbered 0004: 0002 and 0003 belong to key revocation and device cookies. Versions apply
-- in any order (sqlx applies every embedded migration not yet recorded); this one creates
-- its own table and adds one nullable column to `sessions`.
CREATE TABLE personal_access_tokens (
    id                      UUID PRIMARY KEY,
    -- A PAT goes with its user (deleting a user deletes its PATs).
    user_id                 UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash              BYTEA NOT NULL,
    created_at              TIMESTAMPTZ NOT NULL,
    -- Chosen by the user at creation, at most a year ahead; never extended.
    expires_at              TIMESTAMPTZ NOT NULL,
    -- The last sign-in with it; NULL until it is first used.
    last_used_at            TIMESTAMPTZ,
    -- Set once; a revoked PAT never comes back.
    revoked_at              TIMESTAMPTZ,
    -- Why: 'user', 'admin', 'user-disabled', 'password-changed', 'password-reset',
    -- 'unverified-account-claimed', 'email-change-reverted'.
    revoked_reason          TEXT,
    -- Free-form JSON object the user attached (a name, what uses it); at most 8 KiB.
    metadata                JSONB NOT NULL DEFAULT '{}',
    CONSTRAINT personal_access_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX personal_access_tokens_user_id_idx ON personal_access_tokens (user_id);
-- For the upkeep, which prunes PATs a week after they expired or were revoked.
CREATE INDEX personal_access_tokens_expires_at_idx ON personal_access_tokens (expires_at);

-- The PAT a session was started with; NULL for every other sign-in. Two uses:
--   * revoking a PAT ends the sessions it started, so "revoke" means "this token's access
--     ends now", not "no new sessions from it";
--   * such a session never counts as a recent sign-in (TESSERA_RECENT_AUTH_WINDOW): a PAT
--     cannot be turned into a new PAT or a password change without the password.
-- No foreign key: the marker must outlive the pruning of its PAT (like security_events).
ALTER TABLE sessions ADD COLUMN personal_access_token_id UUID;
CREATE INDEX sessions_personal_access_token_id_idx ON sessions (personal_access_token_id)
    WHERE personal_access_token_id IS NOT NULL;
