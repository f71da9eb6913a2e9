-- What finance decided about each statement, appended (docs/settlement.md): approved, held (with
-- a note), paid. A statement with no row is a draft; its status is its latest row. Each change
-- is also in the audit log, with who and when.
CREATE TABLE IF NOT EXISTS statement_status
(
    affiliate_id UInt32,
    period       String,
    status       LowCardinality(String),
    by           String,
    at           DateTime64(3, 'UTC'),
    note         String
)
ENGINE = ReplacingMergeTree
ORDER BY (period, affiliate_id, at, status);
