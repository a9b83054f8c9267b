-- The default listing is `ORDER BY updated_at DESC, id DESC`: an index ordered the same way
-- serves it (and, scanned backwards, `updated_at ASC, id ASC`) without sorting the user's
-- whole library. It replaces the index of 0005, whose `id` ran the other way.
DROP INDEX scores_owner_updated_idx;
CREATE INDEX scores_owner_updated_idx ON scores (owner_id, lifecycle, updated_at DESC, id DESC);
