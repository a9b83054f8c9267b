-- PostgreSQL notifies listeners of new events with a trigger (same version there). SQLite
-- has one process writing through one pool: its wake-up is an in-process signal, so
-- nothing changes here; the migration keeps both backends' versions in step.
SELECT 1;
