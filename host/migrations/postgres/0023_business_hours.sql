-- PostgreSQL twin of ../sqlite/0023_business_hours.sql.
-- Callbacks and follow-ups respect the company's business hours (issue 16): the schedule they
-- are placed in (a schedule's id; empty: around the clock) and the company's timezone. Every
-- company has the `office` schedule from its start.
ALTER TABLE companies ADD COLUMN timezone TEXT NOT NULL DEFAULT 'UTC';
ALTER TABLE companies ADD COLUMN business_hours TEXT NOT NULL DEFAULT 'office';
