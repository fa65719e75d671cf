-- The IdP's durable state: registered clients (one per school node), signing keys, and grants
-- (what a code exchange issued: refresh-token families and the claims userinfo returns).
CREATE TABLE clients (
    client_id                 TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    logo_url                  TEXT,
    secret_hash               TEXT,
    jwks_uri                  TEXT,
    redirect_uris             TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    backchannel_logout_uri    TEXT,
    frontchannel_logout_uri   TEXT,
    federation_url            TEXT,
    -- The node whose accounts sign in to this client (itself, for a school node).
    federation_node           TEXT,
    id_token_alg              TEXT NOT NULL DEFAULT 'ES256',
    updated_at                BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    private_pem TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    -- A retired key signs nothing new and stays in the JWKS until `drop_at`.
    retired_at  BIGINT,
    drop_at     BIGINT
);

CREATE TABLE grants (
    id         TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    sub        TEXT NOT NULL,
    sid        TEXT NOT NULL,
    scope      TEXT NOT NULL,
    claims     TEXT NOT NULL,
    auth_time  BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX grants_sid ON grants (sid);

-- A refresh token carries a copy of its grant's fixed fields, so rotating one is a single
-- UPDATE … RETURNING and an INSERT.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id   TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    sub        TEXT NOT NULL,
    sid        TEXT NOT NULL,
    scope      TEXT NOT NULL,
    claims     TEXT NOT NULL,
    auth_time  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);
