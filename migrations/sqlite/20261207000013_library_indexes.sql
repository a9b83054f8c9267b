-- The library answers from indexes (#18). Search (`LIKE '%…%'` on the folded title and
-- composer), tags and instruments through one FTS5 table with the trigram tokenizer over
-- the folded title, composer and the score's facets (`"t:<folded tag>"`,
-- `"i:<folded instrument>"`, a JSON array the `scores` projection writes), kept by
-- triggers in the same transaction as the rows; the composer filter through the owner's
-- composer index; totals from a per-owner, per-status counter of confirmed scores that
-- the projection keeps in the same transaction as the rows.
ALTER TABLE scores ADD COLUMN facets TEXT NOT NULL DEFAULT '[]';
UPDATE scores SET facets = coalesce(
    (SELECT json_group_array(facet)
     FROM (SELECT 't:' || tag_folded AS facet FROM score_tags WHERE score_id = scores.id
           UNION ALL
           SELECT 'i:' || instrument_folded FROM score_instruments WHERE score_id = scores.id)),
    '[]');

-- The text is folded already: matching it case-sensitively keeps `LIKE`'s answers.
CREATE VIRTUAL TABLE scores_search USING fts5(
    title_folded, composer_folded, facets,
    content = 'scores', content_rowid = 'rowid',
    tokenize = 'trigram case_sensitive 1'
);
INSERT INTO scores_search (scores_search) VALUES ('rebuild');

CREATE TRIGGER scores_search_inserted AFTER INSERT ON scores BEGIN
    INSERT INTO scores_search (rowid, title_folded, composer_folded, facets)
    VALUES (new.rowid, new.title_folded, new.composer_folded, new.facets);
END;
CREATE TRIGGER scores_search_deleted AFTER DELETE ON scores BEGIN
    INSERT INTO scores_search (scores_search, rowid, title_folded, composer_folded, facets)
    VALUES ('delete', old.rowid, old.title_folded, old.composer_folded, old.facets);
END;
CREATE TRIGGER scores_search_updated AFTER UPDATE ON scores
WHEN old.title_folded IS NOT new.title_folded
  OR old.composer_folded IS NOT new.composer_folded
  OR old.facets IS NOT new.facets
BEGIN
    INSERT INTO scores_search (scores_search, rowid, title_folded, composer_folded, facets)
    VALUES ('delete', old.rowid, old.title_folded, old.composer_folded, old.facets);
    INSERT INTO scores_search (rowid, title_folded, composer_folded, facets)
    VALUES (new.rowid, new.title_folded, new.composer_folded, new.facets);
END;

CREATE INDEX scores_owner_composer_idx ON scores (owner_id, lifecycle, composer_folded, updated_at DESC, id DESC);

CREATE TABLE score_counts
(
    owner_id          TEXT    NOT NULL,
    processing_status TEXT    NOT NULL,
    scores            INTEGER NOT NULL,
    PRIMARY KEY (owner_id, processing_status)
) STRICT;
INSERT INTO score_counts (owner_id, processing_status, scores)
SELECT owner_id, processing_status, count(*) FROM scores
WHERE lifecycle = 'confirmed' GROUP BY owner_id, processing_status;
