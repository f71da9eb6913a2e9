/**
 * Commission rules, pure. For now a flat CPA per first-time depositor, paid once per
 * player. A deal is chosen by its effective date against the event's own time, never
 * the wall clock, so a replay picks the same version.
 */
import type { CpaDeal, CpaVersion } from '../../common/entities.js'
import { ledgerAmount } from '../../common/money.js'

export function dealId(affiliateId: number): string {
  return `cpa.${affiliateId}`
}

/** The version in force at `ts`: the latest whose effectiveFrom ≤ ts. */
export function versionAt(deal: CpaDeal | undefined, ts: number): CpaVersion | undefined {
  if (!deal) return undefined
  let found: CpaVersion | undefined
  for (const v of deal.versions) if (v.effectiveFrom <= ts && (!found || v.effectiveFrom > found.effectiveFrom)) found = v
  return found
}

export type LedgerEntry = {
  entry_id: string
  ts: number
  affiliate_id: number
  player_ref: string
  kind: 'cpa'
  deal_id: string
  deal_version: number
  amount: string
  currency: string
  cause_event_id: string
  reason: string
  stream_seq: number
}

/** The CPA line for a player's first deposit; the id makes a recomputation yield the same row. */
export function cpaEntry(a: { affiliateId: number; playerRef: string; ts: number; eventId: string; seq: number }, v: CpaVersion): LedgerEntry {
  const deal = dealId(a.affiliateId)
  return {
    entry_id: `cpa:${a.playerRef}:${deal}`,
    ts: a.ts,
    affiliate_id: a.affiliateId,
    player_ref: a.playerRef,
    kind: 'cpa',
    deal_id: deal,
    deal_version: v.version,
    amount: ledgerAmount(v.amount),
    currency: v.currency,
    cause_event_id: a.eventId,
    reason: 'ftd',
    stream_seq: a.seq,
  }
}
