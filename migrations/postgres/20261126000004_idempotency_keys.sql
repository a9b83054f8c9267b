-- First answers of POST requests sent with an `Idempotency-Key`, replayed to retries.
CREATE TABLE idempotency_keys
(
    user_id      text        NOT NULL,
    route        text        NOT NULL,
    key          text        NOT NULL,
    request_body text        NOT NULL,
    status       integer     NOT NULL,
    headers      text        NOT NULL,
    body         bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, route, key)
);
