-- PostgreSQL twin of ../sqlite/0020_number_caller_id.sql.
-- The number its flow's calls out through the carrier show (forwarding to a mobile, a colleague
-- outside): empty for the company's main number.
ALTER TABLE numbers ADD COLUMN caller_id TEXT NOT NULL DEFAULT '';
