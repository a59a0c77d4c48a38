-- Where a number's calls go when its flow fails (traps, overruns): a route as JSON, e.g.
-- {"department": "sales"}; empty: the sales department.
ALTER TABLE numbers ADD COLUMN fallback TEXT NOT NULL DEFAULT '';
