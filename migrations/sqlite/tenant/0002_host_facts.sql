-- What an agent reports about its machine, how often it checks in, and until when it counts
-- as online (three check-in intervals after its last check-in).

ALTER TABLE hosts ADD COLUMN facts TEXT;
ALTER TABLE hosts ADD COLUMN checkin_interval_secs INTEGER;
ALTER TABLE hosts ADD COLUMN online_until TEXT;
