-- A second application for a code that already has one pending is stored too, and answered
-- like a new one: the answer tells nothing, and the admin sees both.
DROP INDEX applications_one_pending;
CREATE INDEX applications_pending_parent ON applications (parent_code) WHERE status = 'pending';
