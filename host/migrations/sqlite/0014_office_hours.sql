-- A fresh install's business hours, which a fresh number's default chain consults: Monday to
-- Friday, 09:00 to 18:00 in the number's timezone. Admins change it like any schedule.
INSERT INTO schedules (company_id, slug, name, definition, updated_at)
VALUES (1, 'office', 'Office hours',
        '{"weekly":{"mon":[["09:00","18:00"]],"tue":[["09:00","18:00"]],"wed":[["09:00","18:00"]],"thu":[["09:00","18:00"]],"fri":[["09:00","18:00"]]},"holidays":[],"extra_days":[]}',
        0);
