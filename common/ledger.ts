/**
 * Ledger lines and each affiliate's hash chain, pure.
 *
 * A line is append-only: corrections (a refund, a chargeback, a rejection, a re-price) are new
 * lines that name the line they correct. Its id comes from what caused it (`cpa:{player}:{deal}`,
 * `rs:{event}:{period}`, …), never from the time it was computed, so a replay writes the same
 * lines. The lines of one affiliate, in the order the affiliate stage wrote them (the position
 * of the event that caused each, then its index), form a chain:
 *
 *   hash = sha256(prev hash ‖ canonical line)      the first line's prev hash is 64 zeros
 *
 * so a removed, altered or reordered line breaks the chain from that line on; `verifyChain`
 * names the first such line.
 */
import { createHash } from 'node:crypto'

import { LINE_KINDS, LINE_STATUSES } from './vocabulary.js'

export { LINE_KINDS, LINE_STATUSES }
export type LineKind = (typeof LINE_KINDS)[number]
export type LineStatus = (typeof LINE_STATUSES)[number]

export type LedgerLine = {
  id: string
  affiliateId: number
  /** the position of the event that caused it: stream sequence, index in the message, index of the line for that event */
  seq: number
  idx: number
  n: number
  /** when the event that caused it happened (ms epoch) */
  occurredAt: number
  /** the settlement period it belongs to */
  period: string
  kind: LineKind
  dealId: string
  dealVersion: number
  /** the player's stable processing key (hashed into the chain) and pseudonym for display (not hashed: its secret may rotate) */
  playerKey: string
  playerRef: string
  causeEventId: string
  /** pending until `payableAt` (its hold), payable, held (for review; earns nothing yet), or a reversal */
  status: LineStatus
  payableAt?: number
  /** the money the line was computed from, in its own currency (a deposit in EUR, NGR in GBP, lots) */
  originalAmount: string
  originalCurrency: string
  /** what the line pays, in the program currency, full precision */
  amount: string
  currency: string
  /** the FX rate used (1 when no conversion) and the day it was recorded for */
  fxRate: string
  fxDate: string
  /** the line this one corrects (a reversal, a re-price, a clawback offset, a parent's share) */
  refLineId?: string
  /** a live estimate the period's close finalises (RevShare with tiers or carryover) */
  estimated: boolean
  /** why, for a person: "CPA $100: player p_8f… qualified 2026-03-04: FTD $50 ≥ $20" */
  reason: string
}

export type ChainedLine = LedgerLine & { prevHash: string; hash: string }

export const GENESIS = '0'.repeat(64)

/** What is hashed: everything a line says, but not where the stream happened to put its
 *  cause (the chain's order is its order) nor the display pseudonym (its secret may rotate).
 *  So the simulator and the running system, given the same events, write the same chain. */
const FIELDS = [
  'id',
  'affiliateId',
  'occurredAt',
  'period',
  'kind',
  'dealId',
  'dealVersion',
  'playerKey',
  'causeEventId',
  'status',
  'payableAt',
  'originalAmount',
  'originalCurrency',
  'amount',
  'currency',
  'fxRate',
  'fxDate',
  'refLineId',
  'estimated',
  'reason',
] as const satisfies readonly (keyof LedgerLine)[]

/** The line as hashed: its fields in a fixed order, absent optional ones as null. */
export function canonicalLine(l: LedgerLine): string {
  return JSON.stringify(FIELDS.map((f) => l[f] ?? null))
}

export function chainHash(prevHash: string, l: LedgerLine): string {
  return createHash('sha256').update(prevHash).update(canonicalLine(l)).digest('hex')
}

/** Append a line after `head`. */
export function chain(head: string, l: LedgerLine): ChainedLine {
  return { ...l, prevHash: head, hash: chainHash(head, l) }
}

export type ChainProblem = { at: number; lineId: string; problem: 'altered' | 'removed_or_reordered' | 'other_affiliate' }
export type ChainCheck = { ok: true; lines: number; head: string } | { ok: false; lines: number; first: ChainProblem }

/**
 * Check one affiliate's lines in order. A line whose own hash does not match its content was
 * altered; one whose prev hash is not the hash before it follows a removed or reordered line.
 * A statement's seal (its head after its last line) is checked with `expectedHead`.
 */
export function verifyChain(lines: readonly ChainedLine[], o: { from?: string; expectedHead?: string } = {}): ChainCheck {
  let prev = o.from ?? GENESIS
  const affiliate = lines[0]?.affiliateId
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!
    if (l.affiliateId !== affiliate) return { ok: false, lines: i, first: { at: i, lineId: l.id, problem: 'other_affiliate' } }
    if (l.prevHash !== prev) return { ok: false, lines: i, first: { at: i, lineId: l.id, problem: 'removed_or_reordered' } }
    if (chainHash(prev, l) !== l.hash) return { ok: false, lines: i, first: { at: i, lineId: l.id, problem: 'altered' } }
    prev = l.hash
  }
  if (o.expectedHead !== undefined && prev !== o.expectedHead)
    return { ok: false, lines: lines.length, first: { at: lines.length, lineId: lines.at(-1)?.id ?? '', problem: 'removed_or_reordered' } }
  return { ok: true, lines: lines.length, head: prev }
}

/** A statement's seal: the chain's head at its close (the last line's number and hash). */
export type Seal = { period: string; no: number; hash: string }

export type SealCheck = ChainCheck | { ok: false; lines: number; first: { at: number; period: string; problem: 'seal_mismatch' | 'sealed_line_missing' } }

/**
 * Check an affiliate's downloaded lines (numbered from 1, in chain order) against its statements'
 * seals. The chain must hold (verifyChain), and each seal's line must be there with the sealed
 * hash: so a chain cut short after a sealed line, or one rebuilt with fresh hashes after a line
 * was taken out or changed ("shaving" a statement), is found, though it would link up by itself.
 */
export function verifySealed(lines: readonly (ChainedLine & { no: number })[], seals: readonly Seal[]): SealCheck {
  const chained = verifyChain(lines)
  if (!chained.ok) return chained
  for (const s of [...seals].sort((a, b) => a.no - b.no)) {
    if (s.no === 0) continue // a statement of an empty chain
    const l = lines[s.no - 1]
    if (!l || l.no !== s.no) return { ok: false, lines: lines.length, first: { at: s.no, period: s.period, problem: 'sealed_line_missing' } }
    if (l.hash !== s.hash) return { ok: false, lines: lines.length, first: { at: s.no, period: s.period, problem: 'seal_mismatch' } }
  }
  return chained
}
