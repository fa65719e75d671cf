-- The language an account's person last chose (the switch while signed in): letters to the
-- account (sign-in links, temporary passwords) go in it. Not synced to linked schools.
ALTER TABLE accounts ADD COLUMN locale TEXT;
