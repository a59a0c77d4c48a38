-- The exchange calls due callbacks back itself: it claims one (status 'calling', claimed_at) so
-- that no other node rings the same employee for it, counts its attempts, and gives a claim up
-- when its node died (claimed long ago and still 'calling').
ALTER TABLE callbacks ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE callbacks ADD COLUMN claimed_at BIGINT;
