-- PostgreSQL stores the working copies (`state`) as `json` from here on; SQLite has kept
-- them as text all along. Numbered alike on both backends.
SELECT 1;
