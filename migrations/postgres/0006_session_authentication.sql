-- How and when a session was last authenticated, for the `auth_time` and `amr` claims of
-- its access tokens and for the recent-sign-in rule (a password change without the current
-- password, a new personal access token).
--
--   * `auth_time`: the session's latest authentication, the sign-in that started it or a
--     later step-up (a second factor proved on the same session). A refresh never changes
--     it. Existing sessions get their creation time: until now that was the only
--     authentication a session ever had, and the recent-sign-in rule read `created_at`.
--
--   * `amr`: the authentication methods the session has proved (RFC 8176 names where
--     there is one: 'pwd', 'email', 'pat', 'otp', 'rec', 'mfa'), space-separated, in the
--     order they were proved; '' for none (an anonymous session). Space-separated TEXT
--     rather than TEXT[] or JSON so that both backends store and compare the same thing:
--     SQLite has no arrays and its JSON is text with other functions. The values are short
--     tokens from a closed set without spaces (like OAuth's `scope`); the domain owns the
--     list, the store only keeps it. Existing sessions started by a personal access token
--     (`personal_access_token_id`) are 'pat'; how the others were started was not kept, so
--     they get '' (their tokens then carry an empty `amr`, which claims nothing).
--
-- Numbered 0006: 0007 belongs to another change. Versions apply in any order (sqlx applies
-- every embedded migration not yet recorded), and this one only adds columns.
ALTER TABLE sessions
    ADD COLUMN auth_time TIMESTAMPTZ,
    ADD COLUMN amr TEXT NOT NULL DEFAULT '';
UPDATE sessions SET auth_time = created_at;
UPDATE sessions SET amr = 'pat' WHERE personal_access_token_id IS NOT NULL;
-- No default: every insert says when its session was authenticated.
ALTER TABLE sessions ALTER COLUMN auth_time SET NOT NULL;
