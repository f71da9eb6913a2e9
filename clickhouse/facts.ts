/**
 * Player money as typed facts (`player_facts`, one row per attributed event with money;
 * `player_day`, their sums per affiliate, player, day and currency), and the one definition
 * of GGR and NGR, in SQL and in TypeScript. The two must agree: clickhouse/facts.integration
 * tests run both on the same numbers.
 *
 *   GGR = bets − wins
 *   NGR = GGR − bonuses − adjustments − chargebacks − fees
 *
 * Adjustments count with their sign as reported (a correction in the player's favour is
 * positive and lowers NGR). Refunds, deposits and withdrawals are kept but are not revenue.
 * Amounts are summed per currency, never across currencies.
 */
import { D } from '../common/money.js'

/** The money columns of a fact, in table order; every one Decimal(38, 12). */
export const FACT_FIELDS = [
  'deposits',
  'withdrawals',
  'bets',
  'wins',
  'bonuses',
  'fees',
  'adjustments',
  'chargebacks',
  'refunds',
  'lots',
  'spread',
  'commission',
  'challenge_fees',
] as const
export type FactField = (typeof FACT_FIELDS)[number]

/** A fact's amounts as exact decimal strings; an absent field is zero. */
export type MoneyFacts = Partial<Record<FactField, string>>

/** Every fact summed under its own name, for a subquery that GGR_SQL and NGR_SQL then read
 *  (ClickHouse lets an alias shadow its column: `sum(bets) AS bets` beside `bets - wins` in one
 *  SELECT would subtract the sums' aliases, so take the sums first, and give the outer
 *  SELECT's outputs names of their own). */
export const FACT_SUMS_SQL = FACT_FIELDS.map((f) => `sum(${f}) AS ${f}`).join(', ')

/** GGR over columns (or sums) named like the fact fields. */
export const GGR_SQL = '(bets - wins)'
/** NGR over columns (or sums) named like the fact fields. */
export const NGR_SQL = `(${GGR_SQL} - bonuses - adjustments - chargebacks - fees)`

const v = (f: MoneyFacts, k: FactField) => new D(f[k] ?? 0)

export function ggr(f: MoneyFacts): string {
  return v(f, 'bets').minus(v(f, 'wins')).toFixed()
}

export function ngr(f: MoneyFacts): string {
  return new D(ggr(f)).minus(v(f, 'bonuses')).minus(v(f, 'adjustments')).minus(v(f, 'chargebacks')).minus(v(f, 'fees')).toFixed()
}
