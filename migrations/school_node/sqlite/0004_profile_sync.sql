-- Profile sync with the IdP (DESIGN §4.5). `synced_version`: the newest IdP version applied to
-- the account, so older or repeated updates change nothing. `profile_changes`: changes made
-- here, sent to the IdP in order, retried with backoff until it has them.
ALTER TABLE accounts ADD COLUMN synced_version BIGINT NOT NULL DEFAULT 0;

CREATE TABLE profile_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      TEXT NOT NULL,
    changes         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    delivered_at    BIGINT,
    last_error      TEXT
);
CREATE INDEX profile_changes_pending ON profile_changes (delivered_at, seq);
