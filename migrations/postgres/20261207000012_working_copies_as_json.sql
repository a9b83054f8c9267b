-- The projections' working copies of Score and Setlist (`state`) are written once per
-- batch and read back whole, never queried inside: as `json` they are stored as the
-- validated text instead of being parsed into `jsonb` on every write and printed back
-- on every read (a fifth of a `scores` rebuild's time in the database).
ALTER TABLE scores ALTER COLUMN state TYPE json USING state::json;
ALTER TABLE setlists ALTER COLUMN state TYPE json USING state::json;
