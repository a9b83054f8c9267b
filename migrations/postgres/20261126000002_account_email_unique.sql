-- One account per email address, enforced in the transaction that appends the
-- registration: a second `AccountRegistered` with the same (normalised) address violates
-- this index and the append fails as a whole. Also serves the email → account lookup of
-- login. Addresses are stored normalised (trimmed, lower-cased) by the Account aggregate.
CREATE UNIQUE INDEX events_account_email_key
    ON events ((payload -> 'AccountRegistered' ->> 'email'))
    WHERE aggregate_type = 'Account' AND event_type = 'AccountRegistered';
