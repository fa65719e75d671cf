-- A school node's own accounts, their roles and parent–child relations.
CREATE TABLE accounts (
    id                   TEXT PRIMARY KEY,
    first_name           TEXT NOT NULL,
    last_name            TEXT NOT NULL,
    name_key             TEXT NOT NULL,
    personal_code        TEXT UNIQUE,
    email                TEXT,
    phone                TEXT,
    address              TEXT,
    password_hash        TEXT,
    must_change_password BOOLEAN NOT NULL DEFAULT FALSE,
    disabled             BOOLEAN NOT NULL DEFAULT FALSE,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
CREATE INDEX accounts_name_key ON accounts (name_key);
CREATE INDEX accounts_email ON accounts (email);

CREATE TABLE account_roles (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('student', 'parent', 'teacher', 'admin')),
    PRIMARY KEY (account_id, role)
);

CREATE TABLE guardianships (
    parent_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    child_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    PRIMARY KEY (parent_id, child_id),
    CHECK (parent_id <> child_id)
);
CREATE INDEX guardianships_child ON guardianships (child_id);
