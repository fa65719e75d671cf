-- One current signing key per algorithm, even when two IdP processes start together on an empty
-- database: the database refuses a second. Keys made twice before are retired but the newest.
UPDATE signing_keys SET retired_at = created_at
WHERE retired_at IS NULL AND EXISTS (
    SELECT 1 FROM signing_keys newer
    WHERE newer.alg = signing_keys.alg AND newer.retired_at IS NULL
      AND (newer.created_at > signing_keys.created_at
           OR (newer.created_at = signing_keys.created_at AND newer.kid > signing_keys.kid))
);
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (alg) WHERE retired_at IS NULL;
