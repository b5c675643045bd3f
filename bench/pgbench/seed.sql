-- Bulk rows in Tessera's own users, sessions and refresh_tokens tables (created by its
-- migrations: `tessera migrate`), for the pgbench floors (rotation.sql, liveness.sql) and
-- bench/run's scale point. Only columns of migrations/postgres/0001-0010 are named; every
-- other column keeps its default (or NULL).
--
-- psql variables:
--   first, last        the session numbers k to create (first >= 1); run it again with the
--                      next range to grow the tables
--   sessions_per_user  user u owns sessions (u - 1) * sessions_per_user + 1 to
--                      u * sessions_per_user (a user that exists already is kept)
--   tokens_per_session without kek: session k owns tokens (k - 1) * tokens_per_session + 1
--                      to k * tokens_per_session, every one current (rotated_at NULL)
--   kek                optional: Tessera's TESSERA_KEY_ENCRYPTION_KEY (32 bytes in standard
--                      base64), for tokens Tessera takes as its own (below)
--   tokens_file        with kek: where to write every seeded token, one "k<TAB>token" a
--                      line (a client cannot compute them without the key)
--
-- Rows are found by number: user u's id is md5('u' || u)::uuid, session k's
-- md5('s' || k)::uuid, token n's md5('t' || n)::uuid.
--
-- Without kek (the pgbench floors), token n is 'bench-' || lpad(n, 37, '0'): 43 characters,
-- the shape of a refresh token issued before generations, and its hash that string's
-- SHA-256, as Tessera hashes a presented token. Tessera would still accept one, but through
-- its upgrade path (an extra lookup by hash), so these are for the floors only.
--
-- With kek (the scale point), session k gets one token (n = k, tokens_per_session unused),
-- of the current format (src/domain/sessions/refresh_tokens.rs): base64url without padding
-- (98 characters) of 0x01 | session id (16 bytes) | generation 1 (u64 big-endian) |
-- secret (32 bytes: sha256('bench-secret' || k)) | tag (the first 16 bytes of
-- HMAC-SHA256(key, 'tessera refresh token v1' || 0x00 || the 57 bytes before it)), where
-- key is what Tessera derives from its key-encryption key for the purpose
-- 'refresh-token-mac' (src/domain/keys/mod.rs, derived_secret): HMAC-SHA256(kek,
-- 'tessera derived secret v1' || 0x00 || 'refresh-token-mac'). The row holds the SHA-256
-- of the token's text and generation 1: a session's first token, as a sign-in mints it.
-- Needs pgcrypto (created here).
--
-- Every session is live for 30 days.
--
-- Examples:
--   psql -v first=1 -v last=10000 -v sessions_per_user=1 -v tokens_per_session=10 -f seed.sql
--   psql -v first=1 -v last=10000 -v sessions_per_user=10 -v kek=... -v tokens_file=t.tsv -f seed.sql

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

\if :{?kek}
CREATE EXTENSION IF NOT EXISTS pgcrypto;
-- Session k's token, once: for its row's hash here and for tokens_file below. A temporary
-- table: nothing of it is written to the WAL, and it goes with this connection.
CREATE TEMP TABLE seeded_tokens AS
WITH mac AS (
    SELECT hmac(convert_to('tessera derived secret v1', 'UTF8') || '\x00'::bytea
                || convert_to('refresh-token-mac', 'UTF8'),
                decode(:'kek', 'base64'), 'sha256') AS key
), tagged AS (
    SELECT k, '\x01'::bytea || uuid_send(md5('s' || k)::uuid) || int8send(1)
              || sha256(convert_to('bench-secret' || k, 'UTF8')) AS bytes
    FROM generate_series(:first, :last) AS k
)
SELECT k, rtrim(translate(encode(
           bytes || substring(hmac(convert_to('tessera refresh token v1', 'UTF8')
                                   || '\x00'::bytea || bytes, mac.key, 'sha256') FROM 1 FOR 16),
           'base64'), E'+/\n', '-_'), '=') AS token
FROM tagged, mac;

INSERT INTO refresh_tokens (id, session_id, token_hash, created_at, expires_at, generation)
SELECT md5('t' || k)::uuid, md5('s' || k)::uuid, sha256(convert_to(token, 'UTF8')),
       now(), now() + interval '30 days', 1
FROM seeded_tokens;

\o :tokens_file
COPY seeded_tokens TO STDOUT;
\o
DROP TABLE seeded_tokens;
\else
INSERT INTO refresh_tokens (id, session_id, token_hash, created_at, expires_at)
SELECT md5('t' || n)::uuid, md5('s' || ((n - 1) / :tokens_per_session + 1))::uuid,
       sha256(convert_to('bench-' || lpad(n::text, 37, '0'), 'UTF8')),
       now(), now() + interval '30 days'
FROM generate_series((:first - 1) * :tokens_per_session + 1,
                     :last * :tokens_per_session) AS n;
\endif
