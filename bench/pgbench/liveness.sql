-- The database part of POST /token/verify and GET /user: Tessera's session-liveness query
-- (the Postgres store's session_is_live, src/store/postgres/sessions.rs), one autocommit
-- statement on a random session of Tessera's own tables (rows from seed.sql). Tessera binds
-- its own clock where this says now(). GET /user runs it and then SELECT * FROM users
-- WHERE id = $1.
-- Run with: pgbench -n -M prepared -f liveness.sql -D sessions=N -c C -j 2 -T SECS DB
\set k random(1, :sessions)
SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id
 WHERE s.id = md5('s' || :k::text)::uuid AND s.revoked_at IS NULL AND s.expires_at > now()
   AND NOT u.disabled;
