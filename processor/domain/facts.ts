/**
 * Which money facts an event states, pure: its kind says where its amount goes, and its
 * vertical fields (details) fill their own columns. Only what the event itself reports;
 * whether it becomes a fact at all (attributed events only) is the pipeline's step.
 */
import type { FactField, MoneyFacts } from '../../clickhouse/facts.js'
import { occurredAtOf, type ConversionEvent, type ConversionKind, type DetailField } from '../../common/events.js'

/** The column an event's own `amount` goes to, per kind (none: the kind carries no money). */
const AMOUNT_TO: Record<ConversionKind, FactField | undefined> = {
  registration: undefined,
  // an FTD is a deposit, the player's first
  ftd: 'deposits',
  deposit: 'deposits',
  withdrawal: 'withdrawals',
  activity: undefined,
  trade: undefined,
  challenge_purchase: 'challenge_fees',
  challenge_reset: 'challenge_fees',
  // the challenge fee paid back
  challenge_refund: 'refunds',
  // a funded account is a milestone, not a payment
  challenge_funded: undefined,
  chargeback: 'chargebacks',
  refund: 'refunds',
  // a status moves no money
  player_status: undefined,
}

/** The vertical fields that are facts, each into its column of the same name. */
export const DETAIL_FACTS = ['bets', 'wins', 'bonuses', 'fees', 'adjustments', 'lots', 'spread', 'commission'] as const satisfies readonly (DetailField & FactField)[]

/** The facts an event states; empty when it states none. */
export function factsOf(e: Pick<ConversionEvent, 'kind' | 'amount' | 'details'>): MoneyFacts {
  const out: MoneyFacts = {}
  const to = AMOUNT_TO[e.kind]
  if (to && e.amount !== undefined) out[to] = e.amount
  for (const f of DETAIL_FACTS) {
    const x = e.details?.[f]
    if (x !== undefined) out[f] = x
  }
  return out
}

/** The day the money belongs to: an activity's reported day, else the UTC date the event
 *  happened (a deposit reported after midnight belongs to the day it was made). */
export function factDay(e: Pick<ConversionEvent, 'kind' | 'ts' | 'occurredAt' | 'details'>): string {
  const d = e.kind === 'activity' ? e.details?.date : undefined
  return d ?? new Date(occurredAtOf(e)).toISOString().slice(0, 10)
}
