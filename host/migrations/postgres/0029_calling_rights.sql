-- PostgreSQL twin of ../sqlite/0029_calling_rights.sql.
-- Calling rights (issue 16): how far an employee may call out — internal, local, mobile,
-- national or international — his own, else his departments' (empty: not set, the company's
-- rules alone decide).
ALTER TABLE employees ADD COLUMN calling_rights TEXT NOT NULL DEFAULT '';
ALTER TABLE departments ADD COLUMN calling_rights TEXT NOT NULL DEFAULT '';
