-- PostgreSQL twin of ../sqlite/0006_api_logins.sql.
-- Employees log in to the API with their password (kept as an Argon2 hash, PHC string) and get
-- a token of their own; tokens without an employee are the company's admin tokens.
ALTER TABLE employees ADD COLUMN api_password TEXT NOT NULL DEFAULT '';
ALTER TABLE api_tokens ADD COLUMN employee_id BIGINT REFERENCES employees(id) ON DELETE CASCADE;
