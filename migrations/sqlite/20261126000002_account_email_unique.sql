-- One account per email address, enforced in the transaction that appends the
-- registration (see the PostgreSQL migration of the same name).
CREATE UNIQUE INDEX events_account_email_key
    ON events (json_extract(payload, '$.AccountRegistered.email'))
    WHERE aggregate_type = 'Account' AND event_type = 'AccountRegistered';
