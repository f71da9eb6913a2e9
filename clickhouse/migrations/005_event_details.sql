-- The vertical fields of the events beyond registration and FTD (activity per player and day,
-- trades, prop-trading challenges, chargebacks and refunds), as exact decimal strings keyed by
-- field name: bets, wins, bonuses, fees, adjustments, date, instrument, lots, spread,
-- commission, challenge_id, plan, ref_event_id. Clicks leave it empty.
ALTER TABLE events ADD COLUMN IF NOT EXISTS details Map(String, String) AFTER params;
