-- PostgreSQL twin of ../sqlite/0005_employee_details.sql.
-- What an admin sets about an employee besides the extension: role, e-mail, and the mobile that
-- rings some seconds after the desk phones.
ALTER TABLE employees ADD COLUMN role TEXT NOT NULL DEFAULT 'user';
ALTER TABLE employees ADD COLUMN email TEXT NOT NULL DEFAULT '';
ALTER TABLE employees ADD COLUMN mobile TEXT NOT NULL DEFAULT '';
ALTER TABLE employees ADD COLUMN mobile_after_secs BIGINT;
