-- The remaining read models of docs/read-models.md: setlists, quota balances and ledger,
-- accounts, sessions and analytics. Each table belongs to one projection (its name in the
-- comment), which rebuilds it from the event log alone.

-- projection `setlists`
CREATE TABLE setlists
(
    id          TEXT        PRIMARY KEY,
    owner_id    TEXT        NOT NULL,
    name        TEXT        NOT NULL,
    name_folded TEXT        NOT NULL,
    description TEXT,
    event_date  TEXT,
    item_count  INTEGER      NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    version     INTEGER      NOT NULL,
    state       TEXT       NOT NULL
) STRICT;
CREATE INDEX setlists_owner_updated_idx ON setlists (owner_id, updated_at DESC, id);
CREATE INDEX setlists_owner_created_idx ON setlists (owner_id, created_at, id);
CREATE INDEX setlists_owner_name_idx ON setlists (owner_id, name_folded, id);
CREATE INDEX setlists_owner_event_date_idx ON setlists (owner_id, event_date, id);

CREATE TABLE setlist_items
(
    setlist_id TEXT   NOT NULL,
    item_id    TEXT   NOT NULL,
    position   INTEGER NOT NULL,
    score_id   TEXT   NOT NULL,
    note       TEXT,
    PRIMARY KEY (setlist_id, item_id)
) STRICT;
CREATE INDEX setlist_items_order_idx ON setlist_items (setlist_id, position);
CREATE INDEX setlist_items_score_idx ON setlist_items (score_id);

-- projection `quota`
CREATE TABLE quota_balances
(
    user_id        TEXT        PRIMARY KEY,
    limit_bytes    INTEGER      NOT NULL,
    used_bytes     INTEGER      NOT NULL,
    reserved_bytes INTEGER      NOT NULL,
    version        INTEGER      NOT NULL,
    updated_at     TEXT NOT NULL
) STRICT;

-- projection `quota_ledger`
CREATE TABLE quota_ledger
(
    position             INTEGER      PRIMARY KEY,
    user_id              TEXT        NOT NULL,
    version              INTEGER      NOT NULL,
    occurred_at          TEXT NOT NULL,
    event                TEXT        NOT NULL,
    upload_id            TEXT,
    score_id             TEXT,
    delta_used_bytes     INTEGER      NOT NULL,
    delta_reserved_bytes INTEGER      NOT NULL,
    used_bytes_after     INTEGER      NOT NULL,
    reserved_bytes_after INTEGER      NOT NULL,
    limit_bytes_after    INTEGER      NOT NULL,
    UNIQUE (user_id, version)
) STRICT;

-- projection `accounts`
CREATE TABLE accounts
(
    user_id             TEXT        PRIMARY KEY,
    email               TEXT        NOT NULL,
    display_name        TEXT,
    roles               TEXT       NOT NULL,
    registered_at       TEXT NOT NULL,
    password_changed_at TEXT,
    version             INTEGER      NOT NULL
) STRICT;
CREATE INDEX accounts_email_idx ON accounts (email);

-- projection `sessions`
CREATE TABLE sessions
(
    session_id      TEXT        PRIMARY KEY,
    user_id         TEXT        NOT NULL,
    started_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    rotations       INTEGER      NOT NULL,
    last_rotated_at TEXT,
    revoked_at      TEXT,
    revoke_reason   TEXT,
    version         INTEGER      NOT NULL
) STRICT;
CREATE INDEX sessions_user_idx ON sessions (user_id, started_at);

-- projection `analytics`
CREATE TABLE analytics_daily
(
    day           TEXT   PRIMARY KEY,
    uploads       INTEGER NOT NULL,
    upload_bytes  INTEGER NOT NULL,
    deletions     INTEGER NOT NULL,
    deleted_bytes INTEGER NOT NULL,
    active_users  INTEGER NOT NULL
) STRICT;

CREATE TABLE analytics_daily_users
(
    day     TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (day, user_id)
) STRICT;

CREATE TABLE analytics_composers
(
    composer_folded TEXT   PRIMARY KEY,
    composer        TEXT   NOT NULL,
    live_scores     INTEGER NOT NULL
) STRICT;

CREATE TABLE analytics_score_composers
(
    score_id        TEXT PRIMARY KEY,
    composer_folded TEXT NOT NULL
) STRICT;
