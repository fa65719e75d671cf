-- When a message to the IdP was made (Unix milliseconds). created_at restarts when an admin
-- retries a given-up message (its deadline counts from then); made_at never changes, so that
-- the IdP ends only the sessions that were authenticated before the event.
ALTER TABLE idp_outbox ADD COLUMN made_at BIGINT;
