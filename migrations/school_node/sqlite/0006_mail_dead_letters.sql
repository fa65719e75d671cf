-- Nothing is retried forever in silence: a letter past its deadline (or to an address that
-- cannot receive mail) is given up and shown to the admin, with what it belonged to.
ALTER TABLE mail_outbox ADD COLUMN purpose TEXT NOT NULL DEFAULT '';
ALTER TABLE mail_outbox ADD COLUMN given_up_at BIGINT;
