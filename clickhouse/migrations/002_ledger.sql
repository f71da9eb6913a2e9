-- The commission ledger: append-only; corrections are new lines, never edits. Every entry
-- has a deterministic id derived from what caused it (cpa:{player}:{deal}), so a replay
-- of the stream yields the same rows.
CREATE TABLE IF NOT EXISTS ledger
(
    entry_id       String,
    ts             DateTime64(3, 'UTC'),
    affiliate_id   UInt32,
    player_ref     String,
    kind           LowCardinality(String),
    deal_id        String,
    deal_version   UInt32,
    amount         Decimal(38, 12),
    currency       LowCardinality(String),
    cause_event_id String,
    reason         String,
    stream_seq     UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (affiliate_id, ts, entry_id)
SETTINGS non_replicated_deduplication_window = 1000;
