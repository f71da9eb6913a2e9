-- Every outbound postback attempt: what was called, what came back, what happens next
-- (delivered, retry, dead). The operator and the affiliate read their own from here.
CREATE TABLE IF NOT EXISTS postback_attempts
(
    delivery_id  String,
    event_id     String,
    kind         LowCardinality(String),
    endpoint_id  UInt32,
    affiliate_id UInt32,
    attempt      UInt16,
    ts           DateTime64(3, 'UTC'),
    url          String,
    status_code  UInt16,
    error        String,
    duration_ms  UInt32,
    outcome      LowCardinality(String)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (affiliate_id, event_id, ts)
SETTINGS non_replicated_deduplication_window = 1000;
