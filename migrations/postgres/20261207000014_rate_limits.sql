-- Rate-limit buckets shared by every instance (GCRA): per client (`a:<ip>` anonymous,
-- `u:<user id>` authenticated) the theoretical arrival time of its next request, in epoch
-- seconds of the database's clock. A row whose time has passed is a full bucket and is
-- deleted by the servers' minute housekeeping.
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    tat DOUBLE PRECISION NOT NULL
);
