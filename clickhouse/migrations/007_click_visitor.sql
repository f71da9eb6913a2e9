-- What a click says about its visitor, worked out by the processor: country from the IP,
-- device type, OS and browser from the user agent, and a bot flag. The ip column holds the
-- address as IP_STORAGE says (a keyed pseudonym by default). Conversions leave these empty.
ALTER TABLE events ADD COLUMN IF NOT EXISTS country LowCardinality(String) AFTER stream_idx;
ALTER TABLE events ADD COLUMN IF NOT EXISTS device LowCardinality(String) AFTER country;
ALTER TABLE events ADD COLUMN IF NOT EXISTS os LowCardinality(String) AFTER device;
ALTER TABLE events ADD COLUMN IF NOT EXISTS browser LowCardinality(String) AFTER os;
ALTER TABLE events ADD COLUMN IF NOT EXISTS is_bot UInt8 AFTER browser;
