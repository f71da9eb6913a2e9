-- What the fraud rules found (docs/fraud.md): one row per finding on a click, a conversion or
-- an affiliate's traffic as a whole, with its reason code, score, action and evidence. Written
-- by the processor in the batch that decided it (its insert token makes a redone batch write it
-- once); the fraud view's feed, worst affiliates and drill-down read it. A finding of a rule in
-- shadow mode is kept (shadow = 1) and acted on nothing.
CREATE TABLE IF NOT EXISTS fraud_findings
(
    event_id     String,
    -- click, registration, ftd, … (the event it is about), or `affiliate` for a share or rate
    kind         LowCardinality(String),
    ts           DateTime64(3, 'UTC'),
    affiliate_id UInt32,
    sub1         String,
    player_ref   String,
    click_id     String,
    reason       LowCardinality(String),
    action       LowCardinality(String),
    score        UInt8,
    shadow       UInt8,
    -- what the rule saw, as JSON (never another affiliate's data)
    evidence     String,
    stream_seq   UInt64,
    stream_idx   UInt32
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (affiliate_id, ts)
SETTINGS non_replicated_deduplication_window = 1000;
