-- Blocking (issue 16): callers the company will not take — number prefixes as a JSON list,
-- anonymous callers optionally — refused (603) or, with a prompt, told so and hung up on.
ALTER TABLE companies ADD COLUMN blocked_callers TEXT NOT NULL DEFAULT '[]';
ALTER TABLE companies ADD COLUMN block_anonymous BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE companies ADD COLUMN blocked_prompt TEXT NOT NULL DEFAULT '';
