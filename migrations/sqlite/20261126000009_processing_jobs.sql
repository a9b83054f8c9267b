-- PDF processing jobs (issue #6, docs/pdf-processing.md): one row per (score, stage).
-- The stage's log follower (`pdf_info`, `thumbnail`) inserts it on `UploadConfirmed` in the
-- transaction that moves its checkpoint; the process claims it with a lease (inside
-- `BEGIN IMMEDIATE`), runs it, and marks it done. A job whose lease ran out is claimed
-- again; the Score aggregate makes a repeated run record nothing new. Times are UTC text
-- `YYYY-MM-DDTHH:MM:SS.SSSZ`, so they compare as strings.
CREATE TABLE processing_jobs
(
    id              INTEGER PRIMARY KEY,
    score_id        TEXT    NOT NULL,
    stage           TEXT    NOT NULL CHECK (stage IN ('pdf_info', 'thumbnail')),
    state           TEXT    NOT NULL DEFAULT 'queued'
                            CHECK (state IN ('queued', 'running', 'done')),
    -- Claims so far; also the fencing token of the current claim.
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- A queued job is not claimed before this (back-off after a transient failure).
    next_attempt_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    lease_owner     TEXT,
    lease_until     TEXT,
    -- The process that claimed it last: for a done job, the one that finished it.
    claimed_by      TEXT,
    -- Of a done job: succeeded | failed | skipped | error.
    outcome         TEXT,
    last_error      TEXT,
    causation_id    TEXT,
    correlation_id  TEXT,
    request_id      TEXT,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at     TEXT,
    UNIQUE (score_id, stage)
) STRICT;
CREATE INDEX processing_jobs_unfinished_idx ON processing_jobs (next_attempt_at, id)
    WHERE state <> 'done';
