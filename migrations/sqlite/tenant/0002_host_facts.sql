-- What an agent reports about its machine, and how often it checks in (for the host's
-- online/offline status).

ALTER TABLE hosts ADD COLUMN facts TEXT;
ALTER TABLE hosts ADD COLUMN checkin_interval_secs INTEGER;
