-- Audit events (the data tracker, "andmejälgija"): who did what to whose data, when, from
-- which network. Appended, never edited (the trigger refuses an UPDATE); deleted only by the
-- retention sweep after `audit_retention_days`.
CREATE TABLE audit_events (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    at                BIGINT NOT NULL,
    kind              TEXT NOT NULL,
    outcome           TEXT NOT NULL,
    actor_kind        TEXT NOT NULL,
    actor_id          TEXT,
    actor_name        TEXT,
    actor_institution TEXT,
    actor_role        TEXT,
    subject           TEXT,
    institution       TEXT,
    request_id        TEXT,
    network           TEXT,
    detail            TEXT
);
CREATE INDEX audit_events_subject ON audit_events (subject, at);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are never edited');
END;
