-- The change feed (`GET /api/v1/sync`, docs/sync.md): each row the feed serves keeps the
-- log cursor (transaction id, always 0 here, and position) of the last event folded into
-- it, so "what changed after cursor C" is an index range per owner; deletions of listed
-- scores and of setlists leave tombstones. Rows written before this migration take the
-- cursor of the event their `version` names, as a rebuild would.
ALTER TABLE scores ADD COLUMN log_transaction_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE scores ADD COLUMN log_position INTEGER NOT NULL DEFAULT 0;
UPDATE scores SET log_position = coalesce((
    SELECT e.position FROM events e
     WHERE e.aggregate_type = 'Score' AND e.aggregate_id = scores.id
       AND e.sequence = scores.version), 0);
CREATE INDEX scores_owner_changes_idx ON scores (owner_id, log_transaction_id, log_position);

ALTER TABLE setlists ADD COLUMN log_transaction_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE setlists ADD COLUMN log_position INTEGER NOT NULL DEFAULT 0;
UPDATE setlists SET log_position = coalesce((
    SELECT e.position FROM events e
     WHERE e.aggregate_type = 'Setlist' AND e.aggregate_id = setlists.id
       AND e.sequence = setlists.version), 0);
CREATE INDEX setlists_owner_changes_idx ON setlists (owner_id, log_transaction_id, log_position);

ALTER TABLE quota_balances ADD COLUMN log_transaction_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE quota_balances ADD COLUMN log_position INTEGER NOT NULL DEFAULT 0;
UPDATE quota_balances SET log_position = coalesce((
    SELECT e.position FROM events e
     WHERE e.aggregate_type = 'Quota' AND e.aggregate_id = quota_balances.user_id
       AND e.sequence = quota_balances.version), 0);

-- projection `scores`: a confirmed score that left the library (deleted).
CREATE TABLE score_tombstones
(
    id                 TEXT    PRIMARY KEY,
    owner_id           TEXT    NOT NULL,
    version            INTEGER NOT NULL,
    log_transaction_id INTEGER NOT NULL,
    log_position       INTEGER NOT NULL
) STRICT;
CREATE INDEX score_tombstones_owner_changes_idx
    ON score_tombstones (owner_id, log_transaction_id, log_position);

-- projection `setlists`: a deleted setlist.
CREATE TABLE setlist_tombstones
(
    id                 TEXT    PRIMARY KEY,
    owner_id           TEXT    NOT NULL,
    version            INTEGER NOT NULL,
    log_transaction_id INTEGER NOT NULL,
    log_position       INTEGER NOT NULL
) STRICT;
CREATE INDEX setlist_tombstones_owner_changes_idx
    ON setlist_tombstones (owner_id, log_transaction_id, log_position);
