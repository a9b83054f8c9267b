-- Quota reservations neither confirmed nor released (projection `open_reservations`):
-- what the reservation-expiry timer scans. Internal to the processors.
CREATE TABLE open_reservations
(
    upload_id     text   PRIMARY KEY,
    user_id       text   NOT NULL,
    bytes         bigint NOT NULL,
    expires_at_ms bigint NOT NULL
);
CREATE INDEX open_reservations_expiry_idx ON open_reservations (expires_at_ms);
