-- Songbooks (#20): setlist items may play one bookmark of a score or a page sequence of
-- it, and the library search finds bookmarks.
--
-- `setlist_items` says which (`bookmark_id`; `pages` as a JSON array), so the setlist
-- cleanup finds the items of a removed bookmark by index. Items written before this
-- migration all play whole scores: nothing to backfill.
ALTER TABLE setlist_items ADD COLUMN bookmark_id TEXT;
ALTER TABLE setlist_items ADD COLUMN pages TEXT;
CREATE INDEX setlist_items_bookmark_idx ON setlist_items (score_id, bookmark_id)
    WHERE bookmark_id IS NOT NULL;

-- `scores.bookmarks_folded`: the folded title and composer of each of the score's
-- bookmarks, a line each, searched like the score's own title and composer. Rows written
-- before this migration are filled from their working copy; SQLite's lower() folds ASCII
-- only, so a non-ASCII bookmark title made before it is found once its score changes
-- again or the read model is rebuilt (the projection folds with Unicode rules).
ALTER TABLE scores ADD COLUMN bookmarks_folded TEXT NOT NULL DEFAULT '';
UPDATE scores SET bookmarks_folded = coalesce(
    (SELECT group_concat(lower(json_extract(value, '$.title'))
                         || coalesce(char(10) || lower(json_extract(value, '$.composer')), ''),
                         char(10))
     FROM json_each(scores.state, '$.bookmarks')),
    '');

-- The search table takes the new column: recreated with its triggers.
DROP TRIGGER scores_search_inserted;
DROP TRIGGER scores_search_deleted;
DROP TRIGGER scores_search_updated;
DROP TABLE scores_search;
CREATE VIRTUAL TABLE scores_search USING fts5(
    title_folded, composer_folded, bookmarks_folded,
    content = 'scores', content_rowid = 'rowid',
    tokenize = 'trigram case_sensitive 1'
);
INSERT INTO scores_search (scores_search) VALUES ('rebuild');

CREATE TRIGGER scores_search_inserted AFTER INSERT ON scores BEGIN
    INSERT INTO scores_search (rowid, title_folded, composer_folded, bookmarks_folded)
    VALUES (new.rowid, new.title_folded, new.composer_folded, new.bookmarks_folded);
    INSERT INTO scores_facets (rowid, tokens)
    VALUES (new.rowid, (SELECT group_concat('f' || hex(new.owner_id || ':' || value), ' ')
                        FROM json_each(new.facets)));
END;
CREATE TRIGGER scores_search_deleted AFTER DELETE ON scores BEGIN
    INSERT INTO scores_search (scores_search, rowid, title_folded, composer_folded,
                               bookmarks_folded)
    VALUES ('delete', old.rowid, old.title_folded, old.composer_folded, old.bookmarks_folded);
    INSERT INTO scores_facets (scores_facets, rowid, tokens)
    VALUES ('delete', old.rowid, (SELECT group_concat('f' || hex(old.owner_id || ':' || value), ' ')
                                  FROM json_each(old.facets)));
END;
CREATE TRIGGER scores_search_updated AFTER UPDATE ON scores
WHEN old.title_folded IS NOT new.title_folded OR old.composer_folded IS NOT new.composer_folded
  OR old.bookmarks_folded IS NOT new.bookmarks_folded
BEGIN
    INSERT INTO scores_search (scores_search, rowid, title_folded, composer_folded,
                               bookmarks_folded)
    VALUES ('delete', old.rowid, old.title_folded, old.composer_folded, old.bookmarks_folded);
    INSERT INTO scores_search (rowid, title_folded, composer_folded, bookmarks_folded)
    VALUES (new.rowid, new.title_folded, new.composer_folded, new.bookmarks_folded);
END;
