-- The node's own signing keys: federation answers to the IdP and private_key_jwt client auth.
CREATE TABLE node_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    private_pem TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
