-- Commission rollups from the affiliate stage's ledger (ledger_lines), by the minute the
-- causing event happened; the flat-CPA `ledger` table no longer receives lines. The target
-- keeps its deduplication window: a batch retried with the same token is dropped here too.
DROP VIEW IF EXISTS commission_minute_mv;
CREATE MATERIALIZED VIEW IF NOT EXISTS commission_lines_mv TO commission_minute AS
SELECT affiliate_id, toStartOfMinute(occurred_at) AS minute, kind, currency,
       count() AS entries, sum(amount) AS amount
FROM ledger_lines
GROUP BY affiliate_id, minute, kind, currency;
