-- PostgreSQL keeps rate-limit buckets shared by its instances (same version there). SQLite
-- serves from one process whose buckets live in memory: nothing changes here; the
-- migration keeps both backends' versions in step.
SELECT 1;
