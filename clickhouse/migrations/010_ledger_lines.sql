-- The commission ledger of the affiliate stage: append-only lines, each in its affiliate's
-- hash chain at position `no` (docs/commission.md). A correction is a new line naming the one
-- it corrects (ref_line_id), never an edit. Keyed by (affiliate_id, no): a line written twice
-- (a batch redone after a crash) is the same row and collapses on merge; readers use FINAL.
CREATE TABLE IF NOT EXISTS ledger_lines
(
    affiliate_id      UInt32,
    no                UInt64,
    line_id           String,
    kind              LowCardinality(String),
    status            LowCardinality(String),
    period            LowCardinality(String),
    occurred_at       DateTime64(3, 'UTC'),
    payable_at        Nullable(DateTime64(3, 'UTC')),
    deal_id           String,
    deal_version      UInt32,
    player_key        String,
    player_ref        String,
    cause_event_id    String,
    original_amount   Decimal(38, 12),
    original_currency LowCardinality(String),
    amount            Decimal(38, 12),
    currency          LowCardinality(String),
    fx_rate           Decimal(38, 12),
    fx_date           String,
    ref_line_id       String,
    estimated         UInt8,
    reason            String,
    stream_seq        UInt64,
    stream_idx        UInt32,
    fact_n            UInt32,
    -- the ACCRUALS message of the fact that wrote it: what a redone batch checks
    acc_seq           UInt64,
    prev_hash         FixedString(64),
    hash              FixedString(64)
)
ENGINE = ReplacingMergeTree
ORDER BY (affiliate_id, no)
SETTINGS non_replicated_deduplication_window = 1000;
