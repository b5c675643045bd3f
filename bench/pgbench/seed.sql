-- Bulk rows in Tessera's own users, sessions and refresh_tokens tables (created by its
-- migrations: `tessera migrate`), for the pgbench floors (rotation.sql, liveness.sql) and
-- bench/run's scale point. Only columns of migrations/postgres/0001-0009 are named; every
-- other column keeps its default (or NULL).
--
-- psql variables:
--   first, last        the session numbers k to create (first >= 1); run it again with the
--                      next range to grow the tables
--   sessions_per_user  user u owns sessions (u - 1) * sessions_per_user + 1 to
--                      u * sessions_per_user (a user that exists already is kept)
--   tokens_per_session session k owns tokens (k - 1) * tokens_per_session + 1 to
--                      k * tokens_per_session, every one current (rotated_at NULL)
--
-- Rows are found by number: user u's id is md5('u' || u)::uuid, session k's
-- md5('s' || k)::uuid, token n's md5('t' || n)::uuid; token n itself is
-- 'bench-' || lpad(n, 37, '0'), 43 characters of the refresh-token alphabet, so a client can
-- present it (tessera-loadgen refresh --seeded), and its hash is that string's SHA-256, as
-- Tessera hashes a presented token. Every session is live for 30 days.
--
-- Example: psql -v first=1 -v last=10000 -v sessions_per_user=1 -v tokens_per_session=10 -f seed.sql

INSERT INTO users (id, created_at, updated_at, email, email_verified, password_hash)
SELECT md5('u' || u)::uuid, now(), now(), 'seed-' || u || '@example.com', true,
       '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g'
FROM generate_series((:first - 1) / :sessions_per_user + 1,
                     (:last - 1) / :sessions_per_user + 1) AS u
ON CONFLICT (id) DO NOTHING;

INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, auth_time,
                      user_agent, ip)
SELECT md5('s' || k)::uuid, md5('u' || ((k - 1) / :sessions_per_user + 1))::uuid,
       now(), now(), now() + interval '30 days', now(), 'bench', '127.0.0.1'
FROM generate_series(:first, :last) AS k;

INSERT INTO refresh_tokens (id, session_id, token_hash, created_at, expires_at)
SELECT md5('t' || n)::uuid, md5('s' || ((n - 1) / :tokens_per_session + 1))::uuid,
       sha256(convert_to('bench-' || lpad(n::text, 37, '0'), 'UTF8')),
       now(), now() + interval '30 days'
FROM generate_series((:first - 1) * :tokens_per_session + 1,
                     :last * :tokens_per_session) AS n;
