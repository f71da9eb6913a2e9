-- Per-minute rollups through materialized views. Both targets keep a deduplication window,
-- so a retried insert (same insert_deduplication_token, with
-- deduplicate_blocks_in_dependent_materialized_views = 1) is dropped here too.
CREATE TABLE IF NOT EXISTS events_minute
(
    affiliate_id UInt32,
    minute       DateTime('UTC'),
    kind         LowCardinality(String),
    status       LowCardinality(String),
    currency     LowCardinality(String),
    events       UInt64,
    amount       Decimal(38, 12)
)
ENGINE = SummingMergeTree((events, amount))
PARTITION BY toYYYYMM(minute)
ORDER BY (affiliate_id, minute, kind, status, currency)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS events_minute_mv TO events_minute AS
SELECT affiliate_id, toStartOfMinute(ts) AS minute, kind, status, currency,
       count() AS events, sum(amount) AS amount
FROM events
GROUP BY affiliate_id, minute, kind, status, currency;

CREATE TABLE IF NOT EXISTS commission_minute
(
    affiliate_id UInt32,
    minute       DateTime('UTC'),
    kind         LowCardinality(String),
    currency     LowCardinality(String),
    entries      UInt64,
    amount       Decimal(38, 12)
)
ENGINE = SummingMergeTree((entries, amount))
PARTITION BY toYYYYMM(minute)
ORDER BY (affiliate_id, minute, kind, currency)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS commission_minute_mv TO commission_minute AS
SELECT affiliate_id, toStartOfMinute(ts) AS minute, kind, currency,
       count() AS entries, sum(amount) AS amount
FROM ledger
GROUP BY affiliate_id, minute, kind, currency;
