-- E-mail that must not be lost: every message is stored first and sent by a worker with retries.
CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    body_html       TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until   BIGINT NOT NULL DEFAULT 0,
    sent_at         BIGINT,
    last_error      TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox (sent_at, next_attempt_at);

-- Single-use sign-in links; only a hash of the token is kept.
CREATE TABLE sign_in_tokens (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX sign_in_tokens_account ON sign_in_tokens (account_id);

-- Parents' account applications ("esita andmed ja taotle kontot").
CREATE TABLE applications (
    id             TEXT PRIMARY KEY,
    parent_code    TEXT NOT NULL,
    first_name     TEXT NOT NULL,
    last_name      TEXT NOT NULL,
    email          TEXT NOT NULL,
    phone          TEXT NOT NULL,
    children_codes TEXT NOT NULL,
    locale         TEXT NOT NULL,
    status         TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    reason         TEXT,
    account_id     TEXT,
    created_at     BIGINT NOT NULL,
    decided_at     BIGINT
);
CREATE UNIQUE INDEX applications_one_pending ON applications (parent_code) WHERE status = 'pending';
CREATE INDEX applications_status ON applications (status, created_at);
