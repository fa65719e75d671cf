-- The operators' console: institutions kept in the database beside those of the configuration
-- (`source` says which; the configuration's are never changed from the console), disabled ones
-- kept but refused, and one-time tokens with which a new school node enrols.
ALTER TABLE clients ADD COLUMN source TEXT NOT NULL DEFAULT 'file';
ALTER TABLE clients ADD COLUMN disabled_at BIGINT;
ALTER TABLE clients ADD COLUMN created_at BIGINT;
CREATE INDEX clients_name ON clients (name);

CREATE TABLE enrolment_tokens (
    token_hash TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    public_url TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX persons_personal_code ON persons (personal_code);
