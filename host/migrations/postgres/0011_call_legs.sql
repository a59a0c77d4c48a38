-- PostgreSQL twin of ../sqlite/0011_call_legs.sql.
-- The legs a call's dials rang (who, when, what became of each), as JSON (call::record::LegRecord).
ALTER TABLE call_records ADD COLUMN legs TEXT NOT NULL DEFAULT '[]';
