/**
 * The player stage's share of the money, pure: (the player's money state, one event of a bound
 * player, reference data as of the event) → accrual facts for the affiliate stage, and the next
 * state. Everything here depends on one player's history alone: qualification progress toward
 * the deal's CPA, whether this is the player's first challenge purchase, who is above the
 * player's IB when the trade happened, and which deal version was in force.
 *
 * The state is small and bounded: running sums as decimal strings, a count, and at most
 * `minActiveDays` day stamps.
 */
import { dealFor, type Deal, type DealTerms, type Qualification } from '../../../common/deals.js'
import type { ConversionEvent } from '../../../common/events.js'
import { PLAYER_STATUSES } from '../../../common/vocabulary.js'
import { D } from '../../../common/money.js'
import type { MoneyFacts } from '../../../clickhouse/facts.js'
import { factsOf } from '../facts.js'
import type { AccrualFact, FactBase, ReversalWhy } from './accrual.js'
import { money } from './affiliate.js'
import type { FxTable } from '../../../common/fx.js'
import { dayOf } from '../../../common/periods.js'

const DAY_MS = 86_400_000

export { PLAYER_STATUSES }
export type PlayerStatus = (typeof PLAYER_STATUSES)[number]

/** What the money rules need of an event (a `player_status` says its status in `details.status`). */
export type MoneyEvent = Pick<ConversionEvent, 'kind' | 'id' | 'amount' | 'currency' | 'details'>

export type PlayerMoney = {
  registeredAt?: number
  ftdAt?: number
  /** the event the first deposit (or first challenge purchase) came with: what a CPA rests on */
  ftdEventId?: string
  /** the first deposit and the deposits and wagering so far, in the deal's currency */
  firstDeposit?: string
  deposits?: string
  wagering?: string
  bets?: number
  /** days with bets (at most the deal's minActiveDays are kept) */
  days?: string[]
  challenges?: number
  /** the CPA question is settled: qualified, the window ended first, the player was disqualified,
   *  or no CPA was on offer when the player first paid (a deal starting later is not retroactive) */
  cpa?: 'qualified' | 'expired' | 'disqualified' | 'no_deal'
  /** a status the operator reported (KYC failed, self-excluded, duplicate) */
  status?: PlayerStatus
}

export type PlayerMoneyContext = {
  /** the affiliate the player is bound to (0: organic, nothing accrues) */
  affiliateId: number
  /** the player's stable processing key (ids) and display pseudonym */
  playerKey: string
  playerRef: string
  /** the event's position and when it happened */
  seq: number
  idx: number
  /** the index of this event's first fact at its position (an event released by another shares its position) */
  n0?: number
  occurredAt: number
  /** when the event was received: FX rates recorded after it are not seen */
  receivedAt?: number
  brandId?: number
  country?: string
  deals: Iterable<Deal>
  fx: FxTable
  /** the affiliate's parent when the event happened (the IB chain for overrides) */
  parentOf(affiliateId: number, at: number): number | undefined
  /** the affiliate's group when the event happened (its group's deals apply to it) */
  groupOf?(affiliateId: number, at: number): string | undefined
  /** the id of the event a refund names (`ref_event_id`), as event ids are on the stream; default as given */
  refOf?: (ref: string) => string
}

export type PlayerMoneyOutcome = { facts: AccrualFact[]; next: PlayerMoney; note?: string }

/** The facts one event of a bound player produces. */
export function playerMoney(prior: PlayerMoney, ev: MoneyEvent, ctx: PlayerMoneyContext): PlayerMoneyOutcome {
  const next: PlayerMoney = { ...prior }
  if (ctx.affiliateId <= 0) return { facts: [], next }
  const found = dealFor(ctx.deals, {
    affiliateId: ctx.affiliateId,
    group: ctx.groupOf?.(ctx.affiliateId, ctx.occurredAt),
    brandId: ctx.brandId,
    country: ctx.country,
    at: ctx.occurredAt,
  })
  const facts: AccrualFact[] = []
  let n = ctx.n0 ?? 0
  const base = (over: Partial<FactBase> = {}): FactBase => ({
    seq: ctx.seq,
    idx: ctx.idx,
    n: n++,
    affiliateId: ctx.affiliateId,
    playerKey: ctx.playerKey,
    playerRef: ctx.playerRef,
    eventId: ev.id,
    occurredAt: ctx.occurredAt,
    ...(ctx.receivedAt !== undefined ? { receivedAt: ctx.receivedAt } : {}),
    dealId: found?.deal.id ?? '',
    dealVersion: found?.version.version ?? 0,
    ...over,
  })
  const t = found?.version.terms
  const day = dayOf(ctx.occurredAt)
  const inDeal = (amount: string | undefined, currency: string | undefined): D | undefined => {
    if (amount === undefined || !t) return undefined
    const c = ctx.fx.convert(new D(amount), currency ?? t.currency, t.currency, day, ctx.receivedAt)
    return 'missing' in c ? undefined : c.amount
  }

  switch (ev.kind) {
    case 'registration':
      // a second registration of the same player earns no second CPL
      if (next.registeredAt !== undefined) break
      next.registeredAt = ctx.occurredAt
      if (t?.cpl) facts.push({ ...base(), type: 'registration' })
      break
    case 'ftd':
    case 'deposit': {
      const amt = inDeal(ev.amount, ev.currency)
      if (ev.kind === 'ftd' && next.ftdAt === undefined) {
        next.ftdAt = ctx.occurredAt
        next.ftdEventId = ev.id
        if (!qualifies(t)) next.cpa ??= 'no_deal'
        if (amt) next.firstDeposit = amt.toFixed()
      }
      if (amt) next.deposits = new D(next.deposits ?? 0).plus(amt).toFixed()
      break
    }
    case 'activity': {
      const bets = ev.details?.bets
      if (bets !== undefined && new D(bets).gt(0)) {
        const w = inDeal(bets, ev.currency)
        if (w) next.wagering = new D(next.wagering ?? 0).plus(w).toFixed()
        next.bets = (next.bets ?? 0) + 1
        const active = ev.details?.date ?? day
        const keep = t?.cpa?.qualification?.minActiveDays ?? 0
        if (!(next.days ?? []).includes(active) && (next.days ?? []).length < keep) next.days = [...(next.days ?? []), active]
      }
      const r = revenueOf(ev)
      if (r && found && ev.currency) facts.push({ ...base(), type: 'revenue', currency: ev.currency, facts: r })
      break
    }
    case 'trade': {
      if (!t?.ib || !ev.details?.lots || !ev.details.instrument) break
      // the client's IB, then each IB above it as the trade's time saw the chain, to the deal's depth
      let ib: number | undefined = ctx.affiliateId
      const seen = new Set<number>()
      for (let level = 0; level <= t.ib.overridesPerLot.length && ib !== undefined && !seen.has(ib); level++) {
        seen.add(ib)
        facts.push({
          ...base({ affiliateId: ib }),
          type: 'trade',
          level,
          instrument: ev.details.instrument,
          lots: ev.details.lots,
          spread: ev.details.spread,
          currency: ev.currency ?? t.currency,
        })
        ib = ctx.parentOf(ib, ctx.occurredAt)
      }
      break
    }
    case 'challenge_purchase':
    case 'challenge_reset': {
      const first = ev.kind === 'challenge_purchase' && (next.challenges ?? 0) === 0
      next.challenges = (next.challenges ?? 0) + 1
      if (first) {
        // a prop firm's first purchase is its customer's first payment: what a CPA qualifies on
        if (next.ftdAt === undefined) {
          next.ftdAt = ctx.occurredAt
          next.ftdEventId = ev.id
          if (!qualifies(t)) next.cpa ??= 'no_deal'
        }
        const amt = inDeal(ev.amount, ev.currency)
        if (amt && next.firstDeposit === undefined) {
          next.firstDeposit = amt.toFixed()
          next.deposits = new D(next.deposits ?? 0).plus(amt).toFixed()
        }
      }
      if (t?.prop && ev.amount !== undefined) facts.push({ ...base(), type: 'challenge', first, amount: ev.amount, currency: ev.currency ?? t.currency })
      break
    }
    case 'challenge_refund':
    case 'refund':
    case 'chargeback': {
      const why: ReversalWhy = ev.kind === 'challenge_refund' ? 'challenge_refund' : ev.kind
      if (ev.kind === 'chargeback') {
        // a chargeback is also revenue lost: it lowers NGR
        const r = revenueOf(ev)
        if (r && found && ev.currency) facts.push({ ...base(), type: 'revenue', currency: ev.currency, facts: r })
      }
      const ref = ev.details?.ref_event_id
      if (found) facts.push({ ...base(), type: 'reversal', why, ...(ref !== undefined ? { refEventId: (ctx.refOf ?? ((r) => r))(ref) } : {}) })
      break
    }
    case 'player_status': {
      const status = ev.details?.status as PlayerStatus | undefined
      if (!status || !PLAYER_STATUSES.includes(status)) break
      next.status = status
      if (next.cpa === undefined) next.cpa = 'disqualified'
      if (found) facts.push({ ...base(), type: 'reversal', why: status })
      return { facts, next, note: `player ${status}` }
    }
    default:
      break
  }
  const q = t && qualifies(t) ? qualify(next, t, ctx.occurredAt) : undefined
  if (q?.settled) next.cpa = q.settled
  if (q?.settled === 'qualified')
    facts.push({ ...base(), type: 'qualified', why: q.why, ...(next.ftdEventId !== undefined ? { basisEventId: next.ftdEventId } : {}) })
  return { facts, next, note: q?.settled === 'expired' ? q.why : undefined }
}

/** Whether the deal asks who qualifies: for its CPA, or for RevShare bands by qualified FTDs. */
function qualifies(t: DealTerms | undefined): boolean {
  return t?.cpa !== undefined || t?.revshare?.tierBy === 'qualified_ftds'
}

/** The revenue components of an event (bets, wins, bonuses, fees, adjustments, chargebacks), or none. */
function revenueOf(ev: Pick<ConversionEvent, 'kind' | 'amount' | 'details'>): MoneyFacts | undefined {
  const all = factsOf(ev as ConversionEvent)
  const out: MoneyFacts = {}
  for (const k of ['bets', 'wins', 'bonuses', 'fees', 'adjustments', 'chargebacks'] as const) if (all[k] !== undefined) out[k] = all[k]
  return Object.keys(out).length > 0 ? out : undefined
}

/**
 * Whether this event settles the CPA: every condition the deal sets holds (qualified), or the
 * qualification window has passed without it (expired: a late qualifier earns no CPA).
 */
export function qualify(s: PlayerMoney, t: DealTerms, at: number): { settled?: 'qualified' | 'expired'; why: string } {
  if (s.cpa !== undefined || s.status !== undefined) return { why: '' }
  const q: Partial<Qualification> = t.cpa?.qualification ?? {}
  const cur = t.currency
  if (s.ftdAt === undefined) return { why: 'no first deposit yet' }
  const start = q.windowFrom === 'ftd' ? s.ftdAt : (s.registeredAt ?? s.ftdAt)
  if (q.windowDays !== undefined && at > start + q.windowDays * DAY_MS)
    return { settled: 'expired', why: `not qualified within ${q.windowDays} days of ${q.windowFrom === 'ftd' ? 'the first deposit' : 'registration'}` }
  const met: string[] = []
  const check = (ok: boolean, text: string) => {
    met.push(text)
    return ok
  }
  const first = new D(s.firstDeposit ?? 0)
  const deposits = new D(s.deposits ?? 0)
  const wagering = new D(s.wagering ?? 0)
  const wagerNeed = q.wageringMultiple !== undefined ? new D(q.wageringMultiple).times(q.minFirstDeposit ?? 0) : undefined
  const ok = [
    q.minFirstDeposit === undefined || check(first.gte(q.minFirstDeposit), `FTD ${money(first.toFixed(), cur)} ≥ ${money(q.minFirstDeposit, cur)}`),
    q.minDeposits === undefined || check(deposits.gte(q.minDeposits), `deposits ${money(deposits.toFixed(), cur)} ≥ ${money(q.minDeposits, cur)}`),
    q.minWagering === undefined || check(wagering.gte(q.minWagering), `wagering ${money(wagering.toFixed(), cur)} ≥ ${money(q.minWagering, cur)}`),
    wagerNeed === undefined ||
      check(wagering.gte(wagerNeed), `wagering ${money(wagering.toFixed(), cur)} ≥ ${q.wageringMultiple} × ${money(q.minFirstDeposit ?? '0', cur)}`),
    q.minBets === undefined || check((s.bets ?? 0) >= q.minBets, `${s.bets ?? 0} bets ≥ ${q.minBets}`),
    q.minActiveDays === undefined || check((s.days ?? []).length >= q.minActiveDays, `${(s.days ?? []).length} active days ≥ ${q.minActiveDays}`),
  ].every(Boolean)
  if (!ok) return { why: 'conditions not met yet' }
  return { settled: 'qualified', why: met.length > 0 ? met.join(', ') : `first deposit ${money(first.toFixed(), cur)}` }
}
