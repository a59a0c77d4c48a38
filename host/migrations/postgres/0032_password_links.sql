-- PostgreSQL twin of ../sqlite/0032_password_links.sql.
-- One-time links that let an employee set his own password (issue 17): the access-details mail
-- of an employee created without a password points to one. Kept as the token's sha256.
CREATE TABLE password_links (
    token_sha256 TEXT PRIMARY KEY,
    company_id   BIGINT NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    employee_id  BIGINT NOT NULL REFERENCES employees(id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX password_links_employee ON password_links (employee_id);
