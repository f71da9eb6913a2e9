-- Player money as typed facts: one row per attributed event that moves money (deposits,
-- withdrawals, activity, trades, challenge fees, chargebacks, refunds), its amounts in typed
-- columns (the events row's details map stays the raw record). Written by the processor in
-- the same batch as the events rows, under the same idempotent insert tokens. `day` is the
-- day the money belongs to: an activity's reported date, else the event's UTC date.
-- GGR and NGR are defined once, in clickhouse/facts.ts.
CREATE TABLE IF NOT EXISTS player_facts
(
    event_id       String,
    kind           LowCardinality(String),
    ts             DateTime64(3, 'UTC'),
    day            Date,
    affiliate_id   UInt32,
    player_ref     String,
    currency       LowCardinality(String),
    deposits       Decimal(38, 12),
    withdrawals    Decimal(38, 12),
    bets           Decimal(38, 12),
    wins           Decimal(38, 12),
    bonuses        Decimal(38, 12),
    fees           Decimal(38, 12),
    adjustments    Decimal(38, 12),
    chargebacks    Decimal(38, 12),
    refunds        Decimal(38, 12),
    lots           Decimal(38, 12),
    spread         Decimal(38, 12),
    commission     Decimal(38, 12),
    challenge_fees Decimal(38, 12),
    stream_seq     UInt64,
    stream_idx     UInt32
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (affiliate_id, player_ref, ts)
SETTINGS non_replicated_deduplication_window = 1000;

-- Per affiliate, player, day and currency; a deduplication window like the other rollups, so
-- a retried insert (same token) is dropped here too.
CREATE TABLE IF NOT EXISTS player_day
(
    affiliate_id   UInt32,
    player_ref     String,
    day            Date,
    currency       LowCardinality(String),
    events         UInt64,
    deposits       Decimal(38, 12),
    withdrawals    Decimal(38, 12),
    bets           Decimal(38, 12),
    wins           Decimal(38, 12),
    bonuses        Decimal(38, 12),
    fees           Decimal(38, 12),
    adjustments    Decimal(38, 12),
    chargebacks    Decimal(38, 12),
    refunds        Decimal(38, 12),
    lots           Decimal(38, 12),
    spread         Decimal(38, 12),
    commission     Decimal(38, 12),
    challenge_fees Decimal(38, 12)
)
ENGINE = SummingMergeTree((events, deposits, withdrawals, bets, wins, bonuses, fees, adjustments, chargebacks, refunds, lots, spread, commission, challenge_fees))
PARTITION BY toYYYYMM(day)
ORDER BY (affiliate_id, day, player_ref, currency)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS player_day_mv TO player_day AS
SELECT affiliate_id, player_ref, day, currency, count() AS events,
       sum(deposits) AS deposits, sum(withdrawals) AS withdrawals, sum(bets) AS bets, sum(wins) AS wins,
       sum(bonuses) AS bonuses, sum(fees) AS fees, sum(adjustments) AS adjustments,
       sum(chargebacks) AS chargebacks, sum(refunds) AS refunds, sum(lots) AS lots, sum(spread) AS spread,
       sum(commission) AS commission, sum(challenge_fees) AS challenge_fees
FROM player_facts
GROUP BY affiliate_id, player_ref, day, currency;
