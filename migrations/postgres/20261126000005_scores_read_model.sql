-- Read model `scores` (projection `scores`): one row per live upload or score, documented
-- in docs/read-models.md. `state` is the projection's own working copy of the Score;
-- analysts read the other columns.
CREATE TABLE scores
(
    id                text        PRIMARY KEY,
    owner_id          text        NOT NULL,
    lifecycle         text        NOT NULL,
    title             text        NOT NULL,
    composer          text,
    arranger          text,
    genre             text,
    key               text,
    instrumentation   jsonb       NOT NULL,
    tags              jsonb       NOT NULL,
    rating            integer,
    difficulty        integer,
    duration_seconds  bigint,
    reference         text,
    notes             text,
    filename          text        NOT NULL,
    size_bytes        bigint      NOT NULL,
    mime_type         text        NOT NULL,
    processing_status text        NOT NULL,
    processing_error  text,
    pdf               jsonb,
    thumbnail         jsonb,
    title_folded      text        NOT NULL,
    composer_folded   text,
    created_at        timestamptz,
    updated_at        timestamptz,
    version           bigint      NOT NULL,
    state             jsonb       NOT NULL
);
CREATE INDEX scores_owner_updated_idx ON scores (owner_id, lifecycle, updated_at DESC, id);
CREATE INDEX scores_owner_created_idx ON scores (owner_id, lifecycle, created_at, id);
CREATE INDEX scores_owner_title_idx ON scores (owner_id, lifecycle, title_folded, id);

CREATE TABLE score_tags
(
    score_id   text NOT NULL,
    tag_folded text NOT NULL,
    PRIMARY KEY (score_id, tag_folded)
);
CREATE INDEX score_tags_tag_idx ON score_tags (tag_folded, score_id);

CREATE TABLE score_instruments
(
    score_id          text NOT NULL,
    instrument_folded text NOT NULL,
    PRIMARY KEY (score_id, instrument_folded)
);
CREATE INDEX score_instruments_instrument_idx ON score_instruments (instrument_folded, score_id);
