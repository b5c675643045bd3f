-- Device cookies: the server secret that signs them.
--
-- A successful password sign-in gives the client a `tessera-device` cookie: a random nonce
-- and its issue time, with an HMAC-SHA256 tag over them and the account's user id. While
-- an account is locked after too many failed sign-ins, a client presenting a valid cookie
-- of that account is still let in (unless that device is itself failing), so a stranger
-- who floods wrong passwords cannot lock the owner out (OWASP's "device cookies").
--
-- Every replica must check the cookies every other replica issues, so the HMAC key lives
-- here rather than in each process. The first replica to start after this migration
-- inserts a random 32-byte secret; `INSERT ... ON CONFLICT DO NOTHING` makes concurrent
-- first starts agree on one row, and everyone then reads that row.
--
-- The cookies themselves are not stored: they are checked by their tag alone. Failed
-- sign-ins of a device are counted in `rate_limits`, keyed by a hash of the cookie's nonce.
--
-- The secret is stored in the clear: someone who can read this table can mint device
-- cookies, which lets them try passwords at the per-device rate while an account is
-- locked, and nothing more (a device cookie never signs anyone in by itself). Deleting the
-- row (and restarting every replica) makes every device cookie untrusted.
--
-- Numbered 0003: 0002 belongs to signing-key revocation. Versions apply in any order
-- (sqlx applies every embedded migration not yet recorded), and this one touches no
-- table another migration creates.
CREATE TABLE server_secrets (
    -- What the secret is for: 'device-cookie-hmac'.
    name                    TEXT PRIMARY KEY,
    -- Random bytes from the OS generator.
    secret                  BYTEA NOT NULL,
    created_at              TIMESTAMPTZ NOT NULL
);
