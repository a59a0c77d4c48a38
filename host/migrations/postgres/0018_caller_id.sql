-- PostgreSQL twin of ../sqlite/0018_caller_id.sql.
-- Who calls out is shown as: the employee's own number when he has one, else the company's main
-- number ("the main number shown to the people you call"), else the trunk's default.
ALTER TABLE companies ADD COLUMN main_caller_id TEXT NOT NULL DEFAULT '';
ALTER TABLE employees ADD COLUMN caller_id TEXT NOT NULL DEFAULT '';
