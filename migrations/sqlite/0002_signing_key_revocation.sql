-- Emergency revocation of a signing key, SQLite flavour: the same column as
-- ../postgres/0002_signing_key_revocation.sql (read that file for what it means and how it
-- is used). As everywhere in the SQLite schema, the timestamp is INTEGER microseconds since
-- the Unix epoch (UTC).
--
-- revoked_at: NULL for every key that is not revoked (every key before this migration).
-- A revoked row is kept for ever as a tombstone, its private key erased.
ALTER TABLE signing_keys ADD COLUMN revoked_at INTEGER;
