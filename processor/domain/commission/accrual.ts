/**
 * Accrual facts: what the player stage tells the affiliate stage, one per thing that may earn
 * (or take back) commission, in the order of the events that caused them. The player stage has
 * already decided everything that depends on one player's history (attribution, qualification,
 * the IB chain at the event's time) and which deal version applies; the affiliate stage decides
 * what depends on the affiliate's period (caps, tiers, balances) and writes the lines.
 */
import type { MoneyFacts } from '../../../clickhouse/facts.js'
import type { Rounding } from '../../../common/money.js'

export type FactBase = {
  /** the position of the causing event (stream sequence, index in its message) and the fact's index for that event */
  seq: number
  idx: number
  n: number
  /** the affiliate whose chain the fact goes to */
  affiliateId: number
  /** the player's stable processing key: what ids are made of (never changes for a player) */
  playerKey: string
  /** the player's pseudonym as people see it (its secret may rotate: it is in no id and no hash) */
  playerRef: string
  eventId: string
  /** when the causing event happened (ms epoch) */
  occurredAt: number
  /** when it was received: reference data recorded after it (an FX rate) is not seen */
  receivedAt?: number
  /** the fraud rules hold what the player earns (pending review), or reject it (never paid
   *  unless a review overturns it); the reasons for the line's text */
  fraud?: { action: 'hold' | 'reject'; reasons: string; at: number }
  /** the deal and version in force for this affiliate when the event happened */
  dealId: string
  dealVersion: number
}

export type AccrualFact =
  /** a registration, for CPL */
  | (FactBase & { type: 'registration' })
  /** the player met every condition of the deal's CPA (why, for the line's reason) */
  | (FactBase & { type: 'qualified'; why: string; basisEventId?: string })
  /** revenue components of one event in its currency (bets, wins, bonuses, fees, adjustments, chargebacks) */
  | (FactBase & { type: 'revenue'; currency: string; facts: MoneyFacts })
  /** a trade; `level` 0 is the client's own IB, 1 its parent, … (`dealId` is the client IB's deal) */
  | (FactBase & { type: 'trade'; level: number; instrument: string; lots: string; spread?: string; currency: string })
  /** a prop-trading challenge fee: the player's first purchase or a reset / later purchase */
  | (FactBase & { type: 'challenge'; first: boolean; amount: string; currency: string })
  /** take back what an earlier event earned: a refunded or charged-back deposit or fee, a player
   *  found KYC-failed, self-excluded or a duplicate. `refEventId` names the event (or, for a
   *  player status, the whole player: every line of the player still in its hold) */
  | (FactBase & { type: 'reversal'; why: ReversalWhy; refEventId?: string })

export const REVERSAL_WHYS = ['refund', 'chargeback', 'challenge_refund', 'kyc_failed', 'self_excluded', 'duplicate', 'fraud_rejected'] as const
export type ReversalWhy = (typeof REVERSAL_WHYS)[number]

export type FactType = AccrualFact['type']

/** Cause order: by the event's position, then the fact's index for it. */
export function compareFacts(a: Pick<FactBase, 'seq' | 'idx' | 'n'>, b: Pick<FactBase, 'seq' | 'idx' | 'n'>): number {
  return a.seq - b.seq || a.idx - b.idx || a.n - b.n
}

/** A period close at its position in the event stream (not an AccrualFact: it names no
 *  affiliate, it applies to all). `asOf`: when it was accepted; a hold ended by then is payable. */
export type CloseFact = {
  type: 'close'
  seq: number
  idx: number
  n: number
  /** `close:<period>`: the command's id, the cause of every line the close writes */
  closeId: string
  period: string
  asOf: number
  rounding: Rounding
  /** the smallest payment per currency; a smaller total is carried to the next statement */
  threshold?: Record<string, string>
}

/** A manual adjustment of one affiliate's balance (finance's, with a reason): a ledger line of
 *  the open month. Not an AccrualFact: it names no player and no deal. */
export type AdjustFact = {
  type: 'adjust'
  seq: number
  idx: number
  n: number
  id: string
  affiliateId: number
  amount: string
  currency: string
  reason: string
  by: string
  /** when it was made (ms) */
  occurredAt: number
  /** a manual adjustment (default), or a payment of a statement */
  kind?: 'adjustment' | 'payment'
}

/** A fraud review's decision on one player of one affiliate (common/close.ts ReviewCommand). */
export type ReviewFact = {
  type: 'review'
  seq: number
  idx: number
  n: number
  id: string
  affiliateId: number
  playerKey: string
  playerRef: string
  decision: 'approve' | 'reject'
  note: string
  by: string
  occurredAt: number
}

/** A fact of a player's event that earns nothing itself (no deal): where it stands and whose it is. */
export type PlayerFactBase = Omit<FactBase, 'receivedAt' | 'fraud' | 'dealId' | 'dealVersion'>

/** An attributed registration and how long after its click it came: the affiliate's
 *  late-conversion share (click spamming) is kept by the affiliate stage, which holds the
 *  affiliate's new money while the share is past the settings' line (given with the fact, as
 *  the player stage read them at the event's time). */
export type ConversionFact = PlayerFactBase & {
  type: 'conversion'
  /** ms from the click to the registration */
  ctitMs: number
  late: { afterHours: number; max: number; minConversions: number; shadow: boolean }
}

/** The fraud rules marked a player after it had earned: what it earned that is still in its
 *  hold moves to review (held, or rejected), like what it earns from now on. */
export type MarkFact = PlayerFactBase & {
  type: 'mark'
  action: 'hold' | 'reject'
  reasons: string
}

/** What the ACCRUALS stream carries: accrual facts, adjustments, reviews and closes, in cause order. */
export type StageFact = AccrualFact | AdjustFact | ReviewFact | ConversionFact | MarkFact | CloseFact
/** What the affiliate stage applies between closes. */
export type EngineFact = Exclude<StageFact, CloseFact>
