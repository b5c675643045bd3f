-- Personal access tokens (PATs). The same table as
-- ../postgres/0004_personal_access_tokens.sql (read that file for the why); timestamps are
-- INTEGER microseconds since the Unix epoch, UUIDs and hashes are BLOBs, JSON is TEXT.
--
-- A PAT is a long-lived credential a signed-in user creates for scripts and CI; it only
-- ever starts ordinary sessions (`POST /signin/pat`). Only its SHA-256 is stored: a copy
-- of this file yields no usable token.
CREATE TABLE personal_access_tokens (
    id                      BLOB PRIMARY KEY NOT NULL,
    -- A PAT goes with its user (foreign keys are on: see the store's connect options).
    user_id                 BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash              BLOB NOT NULL,
    created_at              INTEGER NOT NULL,
    -- Chosen at creation, at most a year ahead; never extended.
    expires_at              INTEGER NOT NULL,
    -- The last sign-in with it; NULL until first used.
    last_used_at            INTEGER,
    -- Set once; a revoked PAT never comes back.
    revoked_at              INTEGER,
    revoked_reason          TEXT,
    -- A JSON object of at most 8 KiB.
    metadata                TEXT NOT NULL DEFAULT '{}',
    CONSTRAINT personal_access_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX personal_access_tokens_user_id_idx ON personal_access_tokens (user_id);
CREATE INDEX personal_access_tokens_expires_at_idx ON personal_access_tokens (expires_at);

-- The PAT a session was started with (NULL for other sign-ins): revoking the PAT ends
-- those sessions, and they never count as a recent sign-in. No foreign key, so that the
-- marker outlives the pruning of its PAT.
ALTER TABLE sessions ADD COLUMN personal_access_token_id BLOB;
CREATE INDEX sessions_personal_access_token_id_idx ON sessions (personal_access_token_id)
    WHERE personal_access_token_id IS NOT NULL;
