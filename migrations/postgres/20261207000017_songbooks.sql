-- Songbooks (#20): setlist items may play one bookmark of a score or a page sequence of
-- it, and the library search finds bookmarks.
--
-- `setlist_items` says which (`bookmark_id`; `pages` as a JSON array), so the setlist
-- cleanup finds the items of a removed bookmark by index. Items written before this
-- migration all play whole scores: nothing to backfill.
ALTER TABLE setlist_items ADD COLUMN bookmark_id text;
ALTER TABLE setlist_items ADD COLUMN pages jsonb;
CREATE INDEX setlist_items_bookmark_idx ON setlist_items (score_id, bookmark_id)
    WHERE bookmark_id IS NOT NULL;

-- `scores.bookmarks_folded`: the folded title and composer of each of the score's
-- bookmarks, a line each, searched like the score's own title and composer (trigram
-- index). Rows written before this migration are filled from their working copy with
-- lower(), which may fold some scripts differently from the projection's Unicode rules
-- until the score changes again or the read model is rebuilt.
ALTER TABLE scores ADD COLUMN bookmarks_folded text NOT NULL DEFAULT '';
UPDATE scores SET bookmarks_folded = coalesce(
    (SELECT string_agg(lower(b.value ->> 'title')
                       || coalesce(chr(10) || lower(b.value ->> 'composer'), ''),
                       chr(10))
     FROM json_each(scores.state -> 'bookmarks') AS b),
    '')
WHERE json_typeof(state -> 'bookmarks') = 'object';
CREATE INDEX scores_bookmarks_trgm_idx ON scores USING gin (bookmarks_folded gin_trgm_ops)
    WITH (fastupdate = off);
