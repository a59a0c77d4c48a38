-- PostgreSQL twin of ../sqlite/0013_flow_reach.sql.
-- What a number's flow may reach beyond its call: the hosts it may send HTTP requests to (a CRM),
-- as a JSON list of host or host:port names. Empty: none.
ALTER TABLE numbers ADD COLUMN allowed_hosts TEXT NOT NULL DEFAULT '[]';
-- "Who last talked to this number": calls to a number an employee dialled, newest first (calls
-- from it already have call_records_by_caller).
CREATE INDEX call_records_by_dialled ON call_records (dialled, started_at);
-- A CRM's responsible user is matched to an employee by e-mail.
CREATE INDEX employees_by_email ON employees (company_id, LOWER(email));
