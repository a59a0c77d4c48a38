-- PostgreSQL twin of ../sqlite/0008_schedules.sql.
-- Business hours flows consult: weekly hours, holidays and extra working days, as JSON (see
-- host/src/schedule.rs), in the number's timezone.
CREATE TABLE schedules (
    company_id  BIGINT NOT NULL REFERENCES companies(id),
    slug        TEXT NOT NULL,
    name        TEXT NOT NULL,
    definition  TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (company_id, slug)
);
