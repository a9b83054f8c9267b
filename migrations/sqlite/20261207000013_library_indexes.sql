-- The library answers from indexes (#18). Search (`LIKE '%…%'` on the folded title and
-- composer) and the tag and instrument filters (over the score's facets, `t:<folded tag>`
-- and `i:<folded instrument>` in a JSON array the `scores` projection writes) through two
-- FTS5 tables kept by triggers in the same transaction as the rows; the composer filter
-- through the owner's composer index; totals from a per-owner, per-status counter of
-- confirmed scores that the projection keeps in the same transaction as the rows.
ALTER TABLE scores ADD COLUMN facets TEXT NOT NULL DEFAULT '[]';
UPDATE scores SET facets = coalesce(
    (SELECT json_group_array(facet)
     FROM (SELECT 't:' || tag_folded AS facet FROM score_tags WHERE score_id = scores.id
           UNION ALL
           SELECT 'i:' || instrument_folded FROM score_instruments WHERE score_id = scores.id)),
    '[]');

-- Search: the folded title and composer in an FTS5 table with the trigram tokenizer
-- (case-sensitive: the text is folded already, so `LIKE`'s answers are kept).
CREATE VIRTUAL TABLE scores_search USING fts5(
    title_folded, composer_folded,
    content = 'scores', content_rowid = 'rowid',
    tokenize = 'trigram case_sensitive 1'
);
INSERT INTO scores_search (scores_search) VALUES ('rebuild');

-- Tags and instruments: one token per facet of the score, made of its owner and the facet
-- (`f` + the hex of `<owner>:<facet>`), so each token's list holds one user's scores with
-- that tag: an AND of tokens finds a user's matches without reading anybody else's.
CREATE VIRTUAL TABLE scores_facets USING fts5(
    tokens,
    content = '', detail = 'none',
    tokenize = 'ascii'
);
INSERT INTO scores_facets (rowid, tokens)
SELECT rowid, (SELECT group_concat('f' || hex(scores.owner_id || ':' || value), ' ')
               FROM json_each(scores.facets))
FROM scores;

CREATE TRIGGER scores_search_inserted AFTER INSERT ON scores BEGIN
    INSERT INTO scores_search (rowid, title_folded, composer_folded)
    VALUES (new.rowid, new.title_folded, new.composer_folded);
    INSERT INTO scores_facets (rowid, tokens)
    VALUES (new.rowid, (SELECT group_concat('f' || hex(new.owner_id || ':' || value), ' ')
                        FROM json_each(new.facets)));
END;
CREATE TRIGGER scores_search_deleted AFTER DELETE ON scores BEGIN
    INSERT INTO scores_search (scores_search, rowid, title_folded, composer_folded)
    VALUES ('delete', old.rowid, old.title_folded, old.composer_folded);
    INSERT INTO scores_facets (scores_facets, rowid, tokens)
    VALUES ('delete', old.rowid, (SELECT group_concat('f' || hex(old.owner_id || ':' || value), ' ')
                                  FROM json_each(old.facets)));
END;
CREATE TRIGGER scores_search_updated AFTER UPDATE ON scores
WHEN old.title_folded IS NOT new.title_folded OR old.composer_folded IS NOT new.composer_folded
BEGIN
    INSERT INTO scores_search (scores_search, rowid, title_folded, composer_folded)
    VALUES ('delete', old.rowid, old.title_folded, old.composer_folded);
    INSERT INTO scores_search (rowid, title_folded, composer_folded)
    VALUES (new.rowid, new.title_folded, new.composer_folded);
END;
CREATE TRIGGER scores_facets_updated AFTER UPDATE ON scores
WHEN old.facets IS NOT new.facets OR old.owner_id IS NOT new.owner_id
BEGIN
    INSERT INTO scores_facets (scores_facets, rowid, tokens)
    VALUES ('delete', old.rowid, (SELECT group_concat('f' || hex(old.owner_id || ':' || value), ' ')
                                  FROM json_each(old.facets)));
    INSERT INTO scores_facets (rowid, tokens)
    VALUES (new.rowid, (SELECT group_concat('f' || hex(new.owner_id || ':' || value), ' ')
                        FROM json_each(new.facets)));
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
