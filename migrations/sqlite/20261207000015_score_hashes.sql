-- Each score's SHA-256 (lowercase hex) as the `scores` projection knows it from the
-- Score's state: `GET /scores?sha256=`, the duplicate check of `upload-url` and
-- `GET /scores/duplicates` look a user's scores up by it. Rows written before this
-- migration take the value their working copy holds, as a rebuild would.
ALTER TABLE scores ADD COLUMN sha256 TEXT;
UPDATE scores SET sha256 = json_extract(state, '$.file.sha256');
CREATE INDEX scores_owner_sha256_idx ON scores (owner_id, sha256) WHERE sha256 IS NOT NULL;
