-- PostgreSQL twin of ../sqlite/0030_company_icm.sql.
-- The company's Intelligent Contact Manager (issue 16): one configuration — the `icm` flow's
-- settings as JSON — used by extension 6100 and by every number whose flow is the ICM.
ALTER TABLE companies ADD COLUMN icm_settings TEXT NOT NULL DEFAULT '{}';
