-- The remaining read models of docs/read-models.md: setlists, quota balances and ledger,
-- accounts, sessions and analytics. Each table belongs to one projection (its name in the
-- comment), which rebuilds it from the event log alone.

-- projection `setlists`
CREATE TABLE setlists
(
    id          text        PRIMARY KEY,
    owner_id    text        NOT NULL,
    name        text        NOT NULL,
    name_folded text        NOT NULL,
    description text,
    event_date  date,
    item_count  bigint      NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    version     bigint      NOT NULL,
    state       jsonb       NOT NULL
);
CREATE INDEX setlists_owner_updated_idx ON setlists (owner_id, updated_at DESC, id);
CREATE INDEX setlists_owner_created_idx ON setlists (owner_id, created_at, id);
CREATE INDEX setlists_owner_name_idx ON setlists (owner_id, name_folded, id);
CREATE INDEX setlists_owner_event_date_idx ON setlists (owner_id, event_date, id);

CREATE TABLE setlist_items
(
    setlist_id text   NOT NULL,
    item_id    text   NOT NULL,
    position   bigint NOT NULL,
    score_id   text   NOT NULL,
    note       text,
    PRIMARY KEY (setlist_id, item_id)
);
CREATE INDEX setlist_items_order_idx ON setlist_items (setlist_id, position);
CREATE INDEX setlist_items_score_idx ON setlist_items (score_id);

-- projection `quota`
CREATE TABLE quota_balances
(
    user_id        text        PRIMARY KEY,
    limit_bytes    bigint      NOT NULL,
    used_bytes     bigint      NOT NULL,
    reserved_bytes bigint      NOT NULL,
    version        bigint      NOT NULL,
    updated_at     timestamptz NOT NULL
);

-- projection `quota_ledger`
CREATE TABLE quota_ledger
(
    position             bigint      PRIMARY KEY,
    user_id              text        NOT NULL,
    version              bigint      NOT NULL,
    occurred_at          timestamptz NOT NULL,
    event                text        NOT NULL,
    upload_id            text,
    score_id             text,
    delta_used_bytes     bigint      NOT NULL,
    delta_reserved_bytes bigint      NOT NULL,
    used_bytes_after     bigint      NOT NULL,
    reserved_bytes_after bigint      NOT NULL,
    limit_bytes_after    bigint      NOT NULL,
    UNIQUE (user_id, version)
);

-- projection `accounts`
CREATE TABLE accounts
(
    user_id             text        PRIMARY KEY,
    email               text        NOT NULL,
    display_name        text,
    roles               jsonb       NOT NULL,
    registered_at       timestamptz NOT NULL,
    password_changed_at timestamptz,
    version             bigint      NOT NULL
);
CREATE INDEX accounts_email_idx ON accounts (email);

-- projection `sessions`
CREATE TABLE sessions
(
    session_id      text        PRIMARY KEY,
    user_id         text        NOT NULL,
    started_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    rotations       bigint      NOT NULL,
    last_rotated_at timestamptz,
    revoked_at      timestamptz,
    revoke_reason   text,
    version         bigint      NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id, started_at);

-- projection `analytics`
CREATE TABLE analytics_daily
(
    day           date   PRIMARY KEY,
    uploads       bigint NOT NULL,
    upload_bytes  bigint NOT NULL,
    deletions     bigint NOT NULL,
    deleted_bytes bigint NOT NULL,
    active_users  bigint NOT NULL
);

CREATE TABLE analytics_daily_users
(
    day     date NOT NULL,
    user_id text NOT NULL,
    PRIMARY KEY (day, user_id)
);

CREATE TABLE analytics_composers
(
    composer_folded text   PRIMARY KEY,
    composer        text   NOT NULL,
    live_scores     bigint NOT NULL
);

CREATE TABLE analytics_score_composers
(
    score_id        text PRIMARY KEY,
    composer_folded text NOT NULL
);
