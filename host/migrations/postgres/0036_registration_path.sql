-- PostgreSQL twin of ../sqlite/0036_registration_path.sql.
-- The Path (RFC 3327) a phone registered through: the trusted proxies (Kamailio in front of
-- several nodes) that requests to it must go back through, as the Route of those requests.
-- Empty when the phone registered with this exchange directly.
ALTER TABLE registrations ADD COLUMN path TEXT NOT NULL DEFAULT '';
