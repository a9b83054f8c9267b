-- First answers of POST requests sent with an `Idempotency-Key`, replayed to retries.
CREATE TABLE idempotency_keys
(
    user_id      TEXT    NOT NULL,
    route        TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    request_body TEXT    NOT NULL,
    status       INTEGER NOT NULL,
    headers      TEXT    NOT NULL,
    body         BLOB    NOT NULL,
    created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (user_id, route, key)
) STRICT;
