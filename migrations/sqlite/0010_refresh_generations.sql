-- Refresh tokens numbered by generation: see the Postgres migration of the same name.
ALTER TABLE refresh_tokens ADD COLUMN generation INTEGER;

-- SQLite cannot drop a foreign key without rebuilding the table, so the successor link keeps
-- its ON DELETE SET NULL, and this index lets a deleted row find the rows that name it
-- without scanning the table. The rotation reads a missing successor (NULL) as used, like
-- Postgres reads a dangling one.
CREATE INDEX refresh_tokens_successor_id_idx ON refresh_tokens (successor_id);
DROP INDEX IF EXISTS refresh_tokens_expires_at_idx;
