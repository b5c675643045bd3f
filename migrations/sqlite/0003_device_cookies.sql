-- Device cookies: the server secret that signs them. The same table as
-- ../postgres/0003_device_cookies.sql (read that file for the why); timestamps are INTEGER
-- microseconds since the Unix epoch, bytes are BLOBs.
--
-- A successful password sign-in gives the client a `tessera-device` cookie, HMAC-signed
-- with this secret over its nonce, its issue time and the account's user id. While an
-- account is locked after too many failed sign-ins, a client with a valid cookie of that
-- account still gets in unless that device is itself failing. The first start after this
-- migration inserts a random 32-byte secret (`INSERT OR IGNORE`, so concurrent first
-- starts agree on one row). Stored in the clear: it lets its reader mint device cookies,
-- which buy password guesses at the per-device rate and never a sign-in by themselves.
CREATE TABLE server_secrets (
    -- What the secret is for: 'device-cookie-hmac'.
    name                    TEXT PRIMARY KEY NOT NULL,
    secret                  BLOB NOT NULL,
    created_at              INTEGER NOT NULL
);
