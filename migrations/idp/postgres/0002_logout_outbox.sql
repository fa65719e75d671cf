-- Back-channel logout deliveries: one row per client to tell, retried with backoff and a freshly
-- minted logout token each attempt, until delivered or the deadline passes. Times in ms.
CREATE TABLE logout_outbox (
    id              TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL,
    sid             TEXT NOT NULL,
    sub             TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    deadline        BIGINT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until   BIGINT NOT NULL DEFAULT 0,
    delivered_at    BIGINT,
    gave_up_at      BIGINT,
    last_error      TEXT
);
CREATE INDEX logout_outbox_due ON logout_outbox (delivered_at, gave_up_at, next_attempt_at);
