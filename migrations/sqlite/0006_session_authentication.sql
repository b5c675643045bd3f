-- How and when a session was last authenticated: the same change as
-- ../postgres/0006_session_authentication.sql (read that file for the why).
--
-- `auth_time` (microseconds, like every time here) is the session's latest authentication,
-- a sign-in or a later step-up; a refresh never changes it. Existing sessions get their
-- creation time. SQLite adds a NOT NULL column only with a default: 0 (1970) is one no
-- code relies on (every insert sets the column) and, were one to, it would make the session
-- look authenticated long ago, never recently: it fails closed.
--
-- `amr` is the methods the session proved, space-separated ('pwd', 'email', 'pat', 'otp',
-- 'rec', 'mfa'), '' for none. Sessions started by a personal access token are 'pat'; for
-- the others the method was not kept, so ''.
ALTER TABLE sessions ADD COLUMN auth_time INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '';
UPDATE sessions SET auth_time = created_at;
UPDATE sessions SET amr = 'pat' WHERE personal_access_token_id IS NOT NULL;
