-- Refresh tokens numbered by generation, so that a session keeps a constant number of rows
-- however often it refreshes.
--
-- Until now every rotation left its token's row behind until the session ended, and a
-- session kept alive by sliding expiry never ends: an hourly refresh for a year left about
-- 8,760 rows. A token now carries its session id and its generation (1 for a session's
-- first token, one more at each rotation) under a server MAC (domain/sessions/
-- refresh_tokens.rs), so a token of an earlier generation is recognised as its session's
-- without its row. A rotation therefore deletes the session's older rotated rows and keeps
-- two: the current token, and the one it replaced (which the grace window may still
-- replay). Reuse of any earlier token still revokes the session.
--
-- `generation` is NULL for the tokens issued before this migration. They keep working: a
-- current one rotates into a numbered successor (generation 1), so nobody is signed out;
-- rotated ones keep their rows, so their reuse is still detected, and they are never added
-- to again: a rotation deletes them once their tokens have expired (an expired token is
-- refused whatever it is, so its row detects nothing more), so they are gone 30 days
-- (TESSERA_REFRESH_TOKEN_TTL) after the upgrade.
ALTER TABLE refresh_tokens ADD COLUMN generation BIGINT;

-- No query reads tokens by expiry (upkeep ends whole sessions), and every rotation paid
-- for this index with an insert.
DROP INDEX IF EXISTS refresh_tokens_expires_at_idx;

-- A rotation deletes the row its token replaced by session and generation: an exact key
-- here, so it does not step over the dead row versions every earlier refresh of the
-- session left in the index until vacuum. The leading column still serves the session's
-- foreign key (ON DELETE CASCADE).
CREATE INDEX refresh_tokens_session_generation_idx ON refresh_tokens (session_id, generation);
DROP INDEX IF EXISTS refresh_tokens_session_id_idx;

-- The successor link no longer needs the database to keep it consistent: a successor row
-- may now be deleted while the row that names it stays (a pre-migration token's successor,
-- once two more rotations have happened), and the rotation reads a missing successor as
-- used. The constraint's ON DELETE SET NULL also had no index to find referring rows by, so
-- every deleted token row would have cost a scan of the whole table.
ALTER TABLE refresh_tokens DROP CONSTRAINT IF EXISTS refresh_tokens_successor_id_fkey;

-- Sessions: the refresh path updates last_used_at and expires_at at every rotation. An
-- index on expires_at made each of those updates write a new index entry (never a HOT
-- update); the only reader was upkeep's pruning, whose `revoked_at < $1 OR expires_at < $1`
-- scans the table anyway (revoked_at has no index). Free space on each page lets the
-- update stay on its page.
DROP INDEX IF EXISTS sessions_expires_at_idx;
ALTER TABLE sessions SET (fillfactor = 85);
