-- One row per processed batch, written last: the high-water mark a reader can trust.
CREATE TABLE IF NOT EXISTS processed_batches
(
    consumer   LowCardinality(String),
    first_seq  UInt64,
    last_seq   UInt64,
    messages   UInt32,
    events     UInt32,
    max_ts     DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY (consumer, last_seq)
SETTINGS non_replicated_deduplication_window = 1000;
