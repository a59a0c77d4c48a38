-- The company's missed-call hook (issue 16): a flow the exchange runs after a call nobody
-- answered, as JSON `{"flow": sha256, "settings": {...}, "allowed_hosts": [...]}`; empty: none.
ALTER TABLE companies ADD COLUMN missed_call_hook TEXT NOT NULL DEFAULT '';
