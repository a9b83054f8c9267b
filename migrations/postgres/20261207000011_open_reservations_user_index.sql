-- Audits sum one user's open reservations (`WHERE user_id = ?`): without an index each
-- audit read the whole table, and `audit verify-all` read it once per user. Holding
-- `bytes` too, the sum is read from the index alone.
CREATE INDEX open_reservations_user_idx ON open_reservations (user_id, bytes);
