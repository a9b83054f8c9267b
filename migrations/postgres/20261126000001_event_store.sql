-- The event store: one append-only table for every aggregate, as postgres-es expects it,
-- plus the columns that give the global log its order.
--
-- `position` alone is not a commit order: concurrent transactions take positions from the
-- identity sequence in one order and commit in another. `transaction_id` records the
-- writing transaction; readers only read below the oldest transaction still running
-- (pg_snapshot_xmin) and order by (transaction_id, position), so an event that commits
-- late can never be skipped. See docs/decisions/0001-global-log.md.
CREATE TABLE events
(
    position       bigint GENERATED ALWAYS AS IDENTITY,
    transaction_id xid8        NOT NULL DEFAULT pg_current_xact_id(),
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    sequence       bigint      NOT NULL CHECK (sequence >= 1),
    event_type     text        NOT NULL,
    event_version  text        NOT NULL,
    payload        jsonb       NOT NULL,
    metadata       jsonb       NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE UNIQUE INDEX events_position_key ON events (position);
CREATE INDEX events_log_order_idx ON events (transaction_id, position);

-- Auditors replay this table: it is never rewritten.
CREATE FUNCTION events_reject_change() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    RAISE EXCEPTION 'events are append-only';
END;
$$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_reject_change();

-- One snapshot per aggregate (postgres-es updates it in place).
CREATE TABLE snapshots
(
    aggregate_type   text   NOT NULL,
    aggregate_id     text   NOT NULL,
    last_sequence    bigint NOT NULL CHECK (last_sequence >= 0),
    current_snapshot bigint NOT NULL CHECK (current_snapshot >= 0),
    payload          jsonb  NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);

-- Where each projection and processor stands in the global log.
CREATE TABLE checkpoints
(
    name           text        PRIMARY KEY,
    transaction_id bigint      NOT NULL DEFAULT 0,
    position       bigint      NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
