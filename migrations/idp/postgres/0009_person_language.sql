-- The language a person last chose at one of their linked schools (et, en, ru); NULL while they
-- have chosen none there. It goes with every profile update, so that each linked school writes
-- to the person in it; it is not one of the profile's fields.
ALTER TABLE persons ADD COLUMN language TEXT;
