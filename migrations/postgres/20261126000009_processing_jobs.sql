-- PDF processing jobs (issue #6, docs/pdf-processing.md): one row per (score, stage).
-- The stage's log follower (`pdf_info`, `thumbnail`) inserts it on `UploadConfirmed` in the
-- transaction that moves its checkpoint; any `serve` or `worker` process claims it with a
-- lease (`FOR UPDATE SKIP LOCKED`), runs it, and marks it done. A job whose lease ran out
-- (its process died) is claimed again; the Score aggregate makes a repeated run record
-- nothing new.
CREATE TABLE processing_jobs
(
    id              bigserial   PRIMARY KEY,
    score_id        text        NOT NULL,
    stage           text        NOT NULL CHECK (stage IN ('pdf_info', 'thumbnail')),
    state           text        NOT NULL DEFAULT 'queued'
                                CHECK (state IN ('queued', 'running', 'done')),
    -- Claims so far; also the fencing token of the current claim (a process whose lease
    -- was taken over can no longer renew, complete or requeue the job).
    attempts        bigint      NOT NULL DEFAULT 0,
    -- A queued job is not claimed before this (back-off after a transient failure).
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- Set while running; a lease that ran out lets another process take the job over.
    lease_owner     text,
    lease_until     timestamptz,
    -- The process that claimed it last: for a done job, the one that finished it.
    claimed_by      text,
    -- Of a done job: succeeded | failed (ProcessingFailed recorded) | skipped (nothing left
    -- to do: already recorded, or the score is gone) | error (the command was refused).
    outcome         text,
    -- The last failure's reason (transient ones included).
    last_error      text,
    -- Metadata of the command the job issues: caused by the `UploadConfirmed` event.
    causation_id    text,
    correlation_id  text,
    request_id      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    UNIQUE (score_id, stage)
);
-- The claim query's scan: unfinished jobs in the order they become due.
CREATE INDEX processing_jobs_unfinished_idx ON processing_jobs (next_attempt_at, id)
    WHERE state <> 'done';

-- Wakes every listening process when jobs are enqueued (channel `scoremate_jobs`,
-- delivered at commit); claimers also poll, so a lost notification only delays them.
CREATE FUNCTION scoremate_jobs_notify() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    PERFORM pg_notify('scoremate_jobs', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER processing_jobs_notify
    AFTER INSERT ON processing_jobs
    FOR EACH STATEMENT
EXECUTE FUNCTION scoremate_jobs_notify();
