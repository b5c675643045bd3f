-- The floor of POST /token: one transaction that marks a token rotated and inserts its
-- successor, in four round trips (BEGIN, UPDATE, INSERT, COMMIT), with a durable commit,
-- on Tessera's own refresh_tokens table (created by `tessera migrate`, rows from seed.sql).
-- Tessera's own rotation does more: it also locks the session and checks the user, slides
-- the session's expiry, and seals the successor for the grace window.
-- Run with: pgbench -n -M prepared -f rotation.sql -D tokens=N -c C -j 2 -T SECS DB
\set n random(1, :tokens)
BEGIN;
UPDATE refresh_tokens SET rotated_at = now()
 WHERE token_hash = sha256(convert_to('bench-' || lpad(:n::text, 37, '0'), 'UTF8'))
 RETURNING session_id \gset
INSERT INTO refresh_tokens (id, session_id, token_hash, created_at, expires_at)
VALUES (gen_random_uuid(), :session_id, sha256(convert_to(gen_random_uuid()::text, 'UTF8')),
        now(), now() + interval '30 days');
COMMIT;
