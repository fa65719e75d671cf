-- A closed account, a new password or "sign out everywhere" revokes the account's grants.
CREATE INDEX grants_sub ON grants (sub);
