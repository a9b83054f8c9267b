-- Quota reservations neither confirmed nor released (projection `open_reservations`):
-- what the reservation-expiry timer scans. Internal to the processors.
CREATE TABLE open_reservations
(
    upload_id     TEXT    PRIMARY KEY,
    user_id       TEXT    NOT NULL,
    bytes         INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX open_reservations_expiry_idx ON open_reservations (expires_at_ms);
