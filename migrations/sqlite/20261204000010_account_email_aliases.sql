-- Addresses registered before emails were NFKC-normalised: each one whose stored form
-- is not normalised gets its normalised form here, so login and the uniqueness check of
-- new registrations find it. Filled once from the event store by the binary right after
-- the migrations (the stored events are never rewritten); new registrations are stored
-- normalised and never need an alias.
CREATE TABLE account_email_aliases
(
    email   TEXT PRIMARY KEY,
    user_id TEXT NOT NULL
);

-- One row per one-time data step the binary has completed after the migrations.
CREATE TABLE data_backfills
(
    name    TEXT PRIMARY KEY,
    done_at TEXT NOT NULL
);
