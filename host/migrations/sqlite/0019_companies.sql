-- Many companies on one exchange. The operator (its token: the one printed at first start, or
-- --api-token) manages them; a suspended company keeps its data but places no calls and its
-- tokens are refused; a plan's limits are NULL when there is none.
ALTER TABLE api_tokens ADD COLUMN operator BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE api_tokens SET operator = TRUE WHERE label = 'bootstrap' AND employee_id IS NULL AND company_id = 1;
ALTER TABLE companies ADD COLUMN suspended BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE companies ADD COLUMN suspended_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE companies ADD COLUMN max_employees BIGINT;
ALTER TABLE companies ADD COLUMN max_numbers BIGINT;
ALTER TABLE companies ADD COLUMN max_calls BIGINT;
ALTER TABLE companies ADD COLUMN max_flow_versions BIGINT;
ALTER TABLE companies ADD COLUMN max_storage_bytes BIGINT;
-- A company's SIP domain is matched case-insensitively; keep it lower case.
UPDATE companies SET sip_domain = LOWER(sip_domain);
