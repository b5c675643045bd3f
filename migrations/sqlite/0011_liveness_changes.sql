-- Changes that end a session or change a user, for the in-memory liveness view: the same
-- change as ../postgres/0011_liveness_changes.sql (read that file for the why). SQLite
-- has no notifications, and the CLI writes the same file from another process, so the
-- triggers append to `liveness_changes` instead ('s' and a session id when `revoked_at`
-- changes or a session is deleted; 'u' and a user id when a users row is updated or
-- deleted). The server reads the table every 50 ms, applies the rows and deletes them;
-- `seq` gives the order of commits (one writer at a time). A refresh only slides
-- `expires_at` and `last_used_at`: the session trigger is `UPDATE OF revoked_at`, so it
-- fires nothing.
CREATE TABLE liveness_changes (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    TEXT NOT NULL CHECK (kind IN ('s', 'u')),
    id      BLOB NOT NULL
);

CREATE TRIGGER sessions_liveness_revoked
    AFTER UPDATE OF revoked_at ON sessions
    FOR EACH ROW WHEN OLD.revoked_at IS NOT NEW.revoked_at
BEGIN
    INSERT INTO liveness_changes (kind, id) VALUES ('s', OLD.id);
END;

CREATE TRIGGER sessions_liveness_deleted
    AFTER DELETE ON sessions
BEGIN
    INSERT INTO liveness_changes (kind, id) VALUES ('s', OLD.id);
END;

CREATE TRIGGER users_liveness_updated
    AFTER UPDATE ON users
BEGIN
    INSERT INTO liveness_changes (kind, id) VALUES ('u', OLD.id);
END;

CREATE TRIGGER users_liveness_deleted
    AFTER DELETE ON users
BEGIN
    INSERT INTO liveness_changes (kind, id) VALUES ('u', OLD.id);
END;
