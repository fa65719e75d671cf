-- Persons (one human across institutions), their links to accounts at the school nodes, and
-- the profile they share. One outbox now carries both back-channel logouts and profile updates.
ALTER TABLE logout_outbox RENAME TO outbox;
ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'logout';
ALTER TABLE outbox ADD COLUMN payload TEXT;

CREATE TABLE persons (
    id            TEXT PRIMARY KEY,
    first_name    TEXT NOT NULL,
    last_name     TEXT NOT NULL,
    personal_code TEXT,
    email         TEXT,
    phone         TEXT,
    address       TEXT,
    -- Grows with every change; a node applies an update only if it is newer than what it has.
    version       BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- A person's account at a node. An account belongs to at most one person, and a person has at
-- most one account per node, so single sign-on knows which account to open.
CREATE TABLE links (
    node_id   TEXT NOT NULL,
    sub       TEXT NOT NULL,
    person_id TEXT NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
    linked_at BIGINT NOT NULL,
    PRIMARY KEY (node_id, sub),
    UNIQUE (person_id, node_id)
);
CREATE INDEX links_person ON links (person_id);
