-- Read model `scores` (projection `scores`): one row per live upload or score, documented
-- in docs/read-models.md. `state` is the projection's own working copy of the Score;
-- analysts read the other columns.
CREATE TABLE scores
(
    id                TEXT        PRIMARY KEY,
    owner_id          TEXT        NOT NULL,
    lifecycle         TEXT        NOT NULL,
    title             TEXT        NOT NULL,
    composer          text,
    arranger          text,
    genre             text,
    key               text,
    instrumentation   TEXT       NOT NULL,
    tags              TEXT       NOT NULL,
    rating            INTEGER,
    difficulty        INTEGER,
    duration_seconds  INTEGER,
    reference         text,
    notes             text,
    filename          TEXT        NOT NULL,
    size_bytes        INTEGER      NOT NULL,
    mime_type         TEXT        NOT NULL,
    processing_status TEXT        NOT NULL,
    processing_error  text,
    pdf               TEXT,
    thumbnail         TEXT,
    title_folded      TEXT        NOT NULL,
    composer_folded   text,
    created_at        TEXT,
    updated_at        TEXT,
    version           INTEGER      NOT NULL,
    state             TEXT       NOT NULL
) STRICT;
CREATE INDEX scores_owner_updated_idx ON scores (owner_id, lifecycle, updated_at DESC, id);
CREATE INDEX scores_owner_created_idx ON scores (owner_id, lifecycle, created_at, id);
CREATE INDEX scores_owner_title_idx ON scores (owner_id, lifecycle, title_folded, id);

CREATE TABLE score_tags
(
    score_id   TEXT NOT NULL,
    tag_folded TEXT NOT NULL,
    PRIMARY KEY (score_id, tag_folded)
) STRICT;
CREATE INDEX score_tags_tag_idx ON score_tags (tag_folded, score_id);

CREATE TABLE score_instruments
(
    score_id          TEXT NOT NULL,
    instrument_folded TEXT NOT NULL,
    PRIMARY KEY (score_id, instrument_folded)
) STRICT;
CREATE INDEX score_instruments_instrument_idx ON score_instruments (instrument_folded, score_id);
