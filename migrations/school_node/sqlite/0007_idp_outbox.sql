-- Everything the node tells the IdP waits in one durable outbox: profile changes, "sign out
-- everywhere" (also when an account is closed) and new passwords. Each message is claimed by
-- one instance while it is sent, is given up `sso.sync_deadline_minutes` after it was made, and one the IdP refuses is set aside (given
-- up, with the reason) so that later messages go on. One account's messages keep their order.
CREATE TABLE idp_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until   BIGINT NOT NULL DEFAULT 0,
    delivered_at    BIGINT,
    given_up_at     BIGINT,
    last_error      TEXT,
    result          TEXT
);
CREATE INDEX idp_outbox_waiting ON idp_outbox (account_id, seq) WHERE delivered_at IS NULL AND given_up_at IS NULL;
CREATE INDEX idp_outbox_due ON idp_outbox (next_attempt_at) WHERE delivered_at IS NULL AND given_up_at IS NULL;

-- What was waiting moves over (times there were in seconds, here in milliseconds).
INSERT INTO idp_outbox (kind, account_id, payload, created_at, attempts, next_attempt_at, delivered_at, last_error)
SELECT 'profile', account_id, changes, created_at * 1000, attempts, next_attempt_at, delivered_at, last_error
FROM profile_changes ORDER BY seq;

DROP TABLE profile_changes;
