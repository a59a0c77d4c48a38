-- PostgreSQL twin of ../sqlite/0016_security.sql.
-- Trust nothing a stranger sends (security): a company's rules for calls out through the carrier
-- (JSON, empty: national numbers only, as call/toll.rs says), and login tokens that expire.
ALTER TABLE companies ADD COLUMN outbound_rules TEXT NOT NULL DEFAULT '';
-- Unix ms after which the token is refused; NULL: it does not expire (tokens an admin made).
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
CREATE INDEX callbacks_by_filing ON callbacks (company_id, created_at);
