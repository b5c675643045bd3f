-- Social and enterprise sign-in (OpenID Connect providers and GitHub).
--
--   * `user_providers`: an account's identities at providers: (provider, subject) is who
--     the provider says signed in (an ID token's `sub`, GitHub's numeric user id). One
--     identity belongs to one account, and an account has at most one identity per
--     provider. `email` is what the provider last said (shown to the user and the admin;
--     never used to find the account again: the subject is). Deleted with the account.
--   * `provider_flows`: a browser's sign-in at a provider, from `GET /signin/provider/{p}`
--     until the provider's callback. Found by the SHA-256 of its `state` and deleted when
--     the callback takes it (single use: one DELETE ... RETURNING). `browser_hash` is the
--     SHA-256 of the flow cookie's value: a callback from a browser without that cookie is
--     refused. `nonce` and `pkce_verifier` are the secrets of the request to the provider,
--     never sent to the app; `redirect_to` and `code_challenge` are the app's; `link_user_id`
--     is set for a link to a signed-in account; `payload` keeps the sign-up options.
--     Expired rows are swept by upkeep.
CREATE TABLE user_providers (
    id           UUID PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider     TEXT NOT NULL,
    subject      TEXT NOT NULL,
    email        TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    CONSTRAINT user_providers_provider_subject_key UNIQUE (provider, subject),
    CONSTRAINT user_providers_user_provider_key UNIQUE (user_id, provider)
);

CREATE TABLE provider_flows (
    state_hash     BYTEA PRIMARY KEY,
    provider       TEXT NOT NULL,
    browser_hash   BYTEA NOT NULL,
    nonce          TEXT NOT NULL,
    pkce_verifier  TEXT NOT NULL,
    redirect_to    TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    link_user_id   UUID REFERENCES users (id) ON DELETE CASCADE,
    payload        JSONB NOT NULL DEFAULT '{}',
    created_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX provider_flows_expires_at_idx ON provider_flows (expires_at);
