-- Statements of closed periods (docs/settlement.md): one per affiliate and period, written by the
-- affiliate stage's close with the rounding lines it needs. A close redone after a crash writes
-- the same rows again; each row has one place, so readers use FINAL.
CREATE TABLE IF NOT EXISTS statements
(
    affiliate_id UInt32,
    period       String,
    close_id     String,
    -- when the close counts as made: a hold ended by then was payable
    as_of        DateTime64(3, 'UTC'),
    -- the ACCRUALS message of the close
    acc_seq      UInt64,
    rounding     LowCardinality(String),
    -- the chain's head after the close's rounding lines
    seal_no      UInt64,
    seal_hash    FixedString(64),
    -- the affiliate's previous close of this kind ('' and 0: none): what it took is not taken again
    prev_period  String,
    prev_as_of   DateTime64(3, 'UTC'),
    prev_no      UInt64
)
ENGINE = ReplacingMergeTree
ORDER BY (affiliate_id, period);

-- A statement's lines: its ledger lines grouped by kind, deal, deal version and currency, each
-- rounded once to the currency's minor unit.
CREATE TABLE IF NOT EXISTS statement_lines
(
    affiliate_id UInt32,
    period       String,
    kind         LowCardinality(String),
    deal_id      String,
    deal_version UInt32,
    currency     LowCardinality(String),
    lines        UInt32,
    exact        Decimal(38, 12),
    amount       Decimal(38, 12)
)
ENGINE = ReplacingMergeTree
ORDER BY (affiliate_id, period, kind, deal_id, deal_version, currency);

-- A statement's totals per currency: carried in, its lines, paid with it, carried out, and what
-- of the period still waits (in its hold, held for review).
CREATE TABLE IF NOT EXISTS statement_totals
(
    affiliate_id UInt32,
    period       String,
    currency     LowCardinality(String),
    carried_in   Decimal(38, 12),
    lines        Decimal(38, 12),
    total        Decimal(38, 12),
    payable      Decimal(38, 12),
    carried_out  Decimal(38, 12),
    pending      Decimal(38, 12),
    held         Decimal(38, 12)
)
ENGINE = ReplacingMergeTree
ORDER BY (affiliate_id, period, currency);
