-- Payout batches (docs/settlement.md): approved statements paid by one method in one currency.
-- A batch's items are fixed when it is made; its status (made, paid) is appended.
CREATE TABLE IF NOT EXISTS payout_batches
(
    id          String,
    period      String,
    method      LowCardinality(String),
    currency    LowCardinality(String),
    created_at  DateTime64(3, 'UTC'),
    created_by  String,
    items       UInt32,
    total       Decimal(38, 12)
)
ENGINE = ReplacingMergeTree
ORDER BY id;

CREATE TABLE IF NOT EXISTS payout_items
(
    batch_id     String,
    affiliate_id UInt32,
    period       String,
    currency     LowCardinality(String),
    amount       Decimal(38, 12),
    -- the payment details as they were when the batch was made (JSON, common/payment.ts)
    details      String
)
ENGINE = ReplacingMergeTree
ORDER BY (batch_id, affiliate_id);

CREATE TABLE IF NOT EXISTS payout_status
(
    batch_id String,
    status   LowCardinality(String),
    at       DateTime64(3, 'UTC'),
    by       String
)
ENGINE = ReplacingMergeTree
ORDER BY (batch_id, at, status);
