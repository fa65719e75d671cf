-- A client may hold a second secret and either may expire, so a secret can be rotated without
-- downtime: a JSON list of {hash, expires_at} beside secret_hash.
ALTER TABLE clients ADD COLUMN secrets TEXT NOT NULL DEFAULT '[]';
