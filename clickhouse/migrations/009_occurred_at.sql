-- When a conversion happened (its occurred time, from the operator's platform), beside `ts`,
-- when it was received. The processor writes it on every row: a click's is its `ts`. Rows
-- written before this migration read as their `ts`, which is what the processor used for
-- them. player_facts gets it too: its `day` is derived from it.
ALTER TABLE events ADD COLUMN IF NOT EXISTS occurred_at DateTime64(3, 'UTC') DEFAULT ts AFTER ts;
ALTER TABLE player_facts ADD COLUMN IF NOT EXISTS occurred_at DateTime64(3, 'UTC') DEFAULT ts AFTER ts;
