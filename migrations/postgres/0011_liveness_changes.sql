-- Changes that end a session or change a user, announced to every replica's in-memory
-- liveness view (src/domain/liveness.rs) on the channel `tessera_liveness`:
--
--   * 's:<session id>' when a session's `revoked_at` changes or the session is deleted;
--   * 'u:<user id>' when a users row is updated (any column: disabled, email, roles,
--     metadata, password...) or deleted.
--
-- Each replica LISTENs on a connection of its own and forgets what it cached about that
-- row. NOTIFY is transactional: a change is announced when, and only if, it commits, and
-- in commit order (which the replicas' heartbeat relies on). The session trigger is
-- column-specific (`UPDATE OF revoked_at`): a refresh, which only slides `expires_at` and
-- `last_used_at`, fires nothing and pays nothing.
--
-- Numbered 0011: 0010 belongs to another change. Versions apply in any order (sqlx applies
-- every embedded migration not yet recorded), and this one only adds triggers.
CREATE FUNCTION tessera_liveness_session_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tessera_liveness', 's:' || OLD.id::text);
    RETURN NULL;
END;
$$;

CREATE FUNCTION tessera_liveness_user_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tessera_liveness', 'u:' || OLD.id::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER sessions_liveness_revoked
    AFTER UPDATE OF revoked_at ON sessions
    FOR EACH ROW WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at)
    EXECUTE FUNCTION tessera_liveness_session_changed();

CREATE TRIGGER sessions_liveness_deleted
    AFTER DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION tessera_liveness_session_changed();

CREATE TRIGGER users_liveness_changed
    AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION tessera_liveness_user_changed();
