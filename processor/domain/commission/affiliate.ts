/**
 * The affiliate stage, pure: (books, accrual facts in cause order, reference data) → ledger
 * lines, each appended to its affiliate's hash chain, and the books' next state. It is the
 * only writer of ledger lines, and owns per affiliate, deal and period what no single player
 * decides: cap usage, the period's paid CPAs and their retroactive re-pricing, the RevShare
 * balance with its carry, the CPA advance a clawback deal offsets, IB overrides and the
 * sub-affiliate shares of a parent.
 *
 * Facts at or below an affiliate's last applied position are skipped: a redelivered batch, or
 * a replay over books already saved, writes nothing twice. Every id comes from what caused the
 * line, so the same facts give the same lines, however they were batched.
 */
import type { Deal, DealTerms, DealVersion, PeriodKind } from '../../../common/deals.js'
import { D, LEDGER_SCALE, minorUnits } from '../../../common/money.js'
import type { AccrualFact, AdjustFact, CloseFact, ConversionFact, MarkFact, ReviewFact, EngineFact } from './accrual.js'
import { lateShare as lateShareFinding } from '../fraud/late-share.js'
import type { ClosedPeriods } from '../../../common/close.js'
import { bandIndex, ftdRate, revshareWalk, type RsPeriod } from '../../../common/revshare.js'
import type { FxTable } from '../../../common/fx.js'
import { chain, GENESIS, type ChainedLine, type LedgerLine, type LineKind } from '../../../common/ledger.js'
import { dayOf, nextPeriod, periodEndOf, periodKindOf, periodOf, periodStartOf } from '../../../common/periods.js'
import { carryOf, settle, statementLineRef, type AffiliateClose, type Collected, type Statement } from '../../../common/statement.js'

const DAY_MS = 86_400_000
/** The deepest ancestor a sub-affiliate share is paid to, whatever a deal says. */
export const MAX_SUB_DEPTH = 5

export type Reference = {
  /** a deal by id (every version) */
  deal(id: string): Deal | undefined
  fx: FxTable
  /** the affiliate's parent (recruiter) when the event happened */
  parentOf(affiliateId: number, at: number): number | undefined
  /** the affiliate's group when the event happened (its group's deals apply to it) */
  groupOf?(affiliateId: number, at: number): string | undefined
  /** an affiliate's own (or its group's) deal in force at `at` with no brand or country, for its sub-affiliate shares */
  ownDeal(affiliateId: number, at: number): { deal: Deal; version: DealVersion } | undefined
  /** whether the affiliate was suspended when `at` happened: what it would earn is held */
  suspended?(affiliateId: number, at: number): boolean
}

/** A share paid above a line (sub-affiliate), kept so the line's reversal takes back the
 *  same share from the same recruiter at the same rate, whatever has changed since. */
type SubShare = {
  affiliateId: number
  tier: number
  rate: string
  id: string
  dealId: string
  dealVersion: number
  period: string
  currency: string
  fxRate: string
  fxDate: string
}

/** A line that may still be taken back: a CPA or CPL in its hold (by a refund or chargeback of
 *  what it rests on, or a player status), a challenge fee share (by the refund of its purchase). */
type Reversible = {
  id: string
  kind: 'cpa' | 'cpl' | 'prop'
  amount: string
  currency: string
  originalAmount: string
  originalCurrency: string
  /** the end of its hold */
  payableAt: number
  causeEventId: string
  /** a CPA: the event it rests on (the first deposit or purchase), and the day it counts in */
  basisEventId?: string
  day?: string
  dealId: string
  dealVersion: number
  period: string
  fxRate: string
  fxDate: string
  subs: SubShare[]
}

type CpaSlot = {
  /** the CPAs that count in the period under the deal (a reversed one no longer does), in all and per UTC day: caps and tiers */
  live: number
  days: Record<string, number>
  /** with retroactive tiers only: each CPA of the period and its current price, re-priced together */
  paid?: { player: string; ref: string; line: string; price: string; day: string; payableAt: number; reversed?: true }[]
  /** re-pricings so far (each re-price line's id carries its number) */
  reprices: number
  /** the deal version of its latest CPA (its tiers are the ones a close trues up by) */
  version?: number
  /** its period is closed: its tiers were trued up and stay as they are */
  closed?: true
}

type PlayerBook = {
  reversible: Reversible[]
  /** per deal, for a clawback deal: the player's CPA (its slot and line: the advance is its
   *  current price there), the player's NGR so far (after the admin fee, deal currency), and
   *  how much of the player's RevShare the advance has absorbed */
  clawback?: Record<string, { slot?: string; line?: string; price?: string; ngr: string; absorbed: string }>
  /** lines the fraud rules held or rejected (the player's own, and its recruiters' shares of
   *  them), waiting for a person's review */
  held?: LedgerLine[]
  /** the last review of the player: approved, a fraud mark made before it holds nothing more;
   *  rejected, nothing the player brings is paid from then on */
  review?: { decision: 'approve' | 'reject'; at: number }
  /** kept by the running stage (see AffiliateBook.pre) */
  pre?: Pre<Omit<PlayerBook, 'pre'>>
}

export type { RsPeriod }

export type AffiliateBook = {
  /** the last fact applied: [seq, idx, n] */
  at?: [number, number, number]
  /** the latest time a fact happened at, so far: what old reversible lines are forgotten by */
  latest: number
  head: string
  lines: number
  cpa: Record<string, CpaSlot>
  /** per deal, per period: its start, the NGR in it (deal currency, before the admin fee), what its lines add up to, and the deal version of its latest fact */
  rs: Record<string, Record<string, RsPeriod>>
  players: Record<string, PlayerBook>
  /** per period kind, the affiliate's last statement: what it took is not taken again, and what it carried */
  closes?: Partial<Record<PeriodKind, AffiliateClose>>
  /** the late-conversion share: per UTC day of the last 30, [registrations, those later than the
   *  settings' hours after their click]; and, while the share is past the hold line, since when */
  lateDays?: Record<string, [number, number]>
  lateHold?: { since: number; share: number }
  /** kept by the running stage: the book as it was before the range of ACCRUALS that last
   *  changed it, so a redo of that range starts from it (affiliate-stage.ts) */
  pre?: Pre<Omit<AffiliateBook, 'players' | 'pre'>>
}

/** A stored key's state before the ACCRUALS range [first, last] that last changed it (null: it was not there). */
export type Pre<T> = { first: number; last: number; was: T | null }

/** The program's last close per period kind: a fact of a period at or before it is late, and
 *  is booked in the open period (the one after it). */
export type ProgramBook = { closed: ClosedPeriods }

export function emptyProgram(): ProgramBook {
  return { closed: {} }
}

export type Books = Record<string, AffiliateBook>

export function emptyBook(): AffiliateBook {
  return { latest: 0, head: GENESIS, lines: 0, cpa: {}, rs: {}, players: {} }
}

/** How long after its hold a line stays reversible: a CPA or CPL by a late-reported event dated
 *  inside the hold; a fee share by the refund of its purchase (after payment it nets). */
const KEEP_MS = { cpa: 90 * DAY_MS, cpl: 90 * DAY_MS, prop: 365 * DAY_MS } as const

export type NumberedLine = ChainedLine & { no: number }

export type StageOutput = { lines: NumberedLine[]; books: Books; program: ProgramBook }

/** Apply facts (in cause order) to the books. `books` is not modified; the changed books are returned whole. */
export function applyFacts(books: Books, facts: readonly EngineFact[], ref: Reference, program: ProgramBook = emptyProgram()): StageOutput {
  const w = new Writer(books, ref, program)
  for (const f of facts) {
    const book = w.book(f.affiliateId)
    if (book.at && !after([f.seq, f.idx, f.n], book.at)) continue
    book.at = [f.seq, f.idx, f.n]
    book.latest = Math.max(book.latest ?? 0, f.occurredAt)
    w.fraud = undefined
    if (f.type === 'adjust') {
      w.late = undefined
      w.adjust(f)
      continue
    }
    if (f.type === 'review') {
      w.late = undefined
      w.review(f)
      continue
    }
    if (f.type === 'conversion') {
      w.lateShare(f)
      continue
    }
    if (f.type === 'mark') {
      w.late = undefined
      w.mark(f)
      continue
    }
    w.fraud = w.fraudOf(f)
    w.asOf = f.receivedAt
    const found = ref.deal(f.dealId)
    const version = found?.versions.find((v) => v.version === f.dealVersion)
    if (!found || !version) throw new Error(`deal ${f.dealId} version ${f.dealVersion} is not in the reference data`)
    const t = version.terms
    const natural = periodOf(f.occurredAt, t.period)
    w.late = w.isClosed(natural) ? `late: it happened ${dayOf(f.occurredAt)}, after ${natural} was closed` : undefined
    switch (f.type) {
      case 'registration':
        if (t.cpl) w.cpl(f, t)
        break
      case 'qualified':
        if (t.cpa) w.cpa(f, t)
        if (t.revshare?.tierBy === 'qualified_ftds') w.countFtd(w.base(f, t), t, 1, `player ${f.playerRef.slice(0, 10)}… qualified ${dayOf(f.occurredAt)}`)
        break
      case 'revenue':
        if (t.revshare) w.revenue(f, t)
        break
      case 'trade':
        if (t.ib) w.trade(f, t)
        break
      case 'challenge':
        if (t.prop) w.challenge(f, t)
        break
      case 'reversal':
        w.reverse(f, t)
        break
    }
  }
  return { lines: w.lines, books: w.books, program: w.program }
}

/**
 * A period close, phase 1, over every affiliate in `books` (all of them, so no book misses
 * it): what each affiliate's own commission of the period needs to be final. Retroactive CPA
 * tiers are trued up on approved players only (hold ended by the close, not reversed): every
 * CPA of the period that still counts is re-priced to the tier their count reached, and the
 * period's tiers stay so. RevShare, its bands, carry, ringfence and high-roller clause need no
 * line: the period's lines are final as they stand, because from now on a fact of the period
 * is late and goes to the open period. The recruiters' shares of the true-ups are written with
 * them (phase 2: sub-affiliate lines from the children's final commission). Then the period is
 * closed in the program's books.
 */
export function closePeriod(books: Books, program: ProgramBook, close: CloseFact, ref: Reference): StageOutput & { applied: boolean } {
  const w = new Writer(books, ref, program)
  const applied = w.finalise(close)
  return { lines: w.lines, books: w.books, program: w.program, applied }
}

/**
 * A period close, the statements: for every affiliate with a ledger, its statement from what
 * the close took of its chain (`collected`, by `collect` or its SQL twin), the rounding lines
 * it needs, and the seal (the chain's head after them). The books remember the close, so the
 * next statement takes what this one left and carries what it carried.
 */
export function sealStatements(
  books: Books,
  program: ProgramBook,
  close: CloseFact,
  ref: Reference,
  collected: (affiliateId: number) => Collected | undefined,
): StageOutput & { statements: Statement[] } {
  const w = new Writer(books, ref, program)
  const statements = w.seal(close, collected)
  return { lines: w.lines, books: w.books, program: w.program, statements }
}

/** The affiliates of the books, in id order: the order a close visits them. */
const affiliateOrder = (books: Books) =>
  Object.keys(books)
    .map(Number)
    .sort((a, b) => a - b)

function after(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! > b[i]!
  return false
}

type Fact<T extends AccrualFact['type']> = Extract<AccrualFact, { type: T }>

class Writer {
  readonly lines: NumberedLine[] = []
  readonly books: Books
  readonly #touched = new Set<string>()
  /** when the fact being applied was received: the FX rates recorded by then */
  asOf: number | undefined
  /** the fact being applied is late (its period closed): a note every line it writes carries */
  late: string | undefined
  /** the fraud rules hold or reject what the fact being applied earns (its player's, and the shares of it) */
  fraud: { action: 'hold' | 'reject'; reasons: string; affiliateId: number; playerKey: string } | undefined
  readonly program: ProgramBook

  constructor(
    books: Books,
    private readonly ref: Reference,
    program: ProgramBook,
  ) {
    // copy on first touch: the caller's books stay as they were
    this.books = { ...books }
    this.program = structuredClone(program)
  }

  /** Whether a period is closed (at or before the program's last close of its kind). */
  isClosed(period: string): boolean {
    const kind = periodKindOf(period)
    const c = kind && this.program.closed[kind]
    return !!c && period <= c.period
  }

  /** The period a line of `at` is booked in: its own, or the open one when its own is closed. */
  periodFor(at: number, kind: PeriodKind): string {
    const p = periodOf(at, kind)
    const c = this.program.closed[kind]
    return c && p <= c.period ? nextPeriod(c.period) : p
  }

  book(affiliateId: number): AffiliateBook {
    const k = String(affiliateId)
    if (!this.#touched.has(k)) {
      this.books[k] = this.books[k] ? structuredClone(this.books[k]) : emptyBook()
      this.#touched.add(k)
    }
    return this.books[k]!
  }

  player(affiliateId: number, key: string): PlayerBook {
    const b = this.book(affiliateId)
    const p = (b.players[key] ??= { reversible: [] })
    // forget what can no longer be taken back (by the latest time this affiliate has seen: deterministic)
    p.reversible = p.reversible.filter((r) => r.payableAt + KEEP_MS[r.kind] >= b.latest)
    return p
  }

  /** Append a line to its affiliate's chain; returns it numbered. */
  append(line: LedgerLine): NumberedLine {
    // full precision, to the ledger's scale (12 decimals, half-even): a product of a rate and an
    // amount can have more; rounding to the currency's minor unit happens once, on the statement
    const l = { ...line, amount: toScale(line.amount), originalAmount: toScale(line.originalAmount) }
    if (this.late) l.reason = `${l.reason} (${this.late})`
    // a suspended affiliate's conversions still count, but what they earn is held
    if (
      l.status !== 'reversed' &&
      l.kind !== 'rounding' &&
      l.kind !== 'adjustment' &&
      l.kind !== 'payment' &&
      !new D(l.amount).isZero() &&
      this.ref.suspended?.(l.affiliateId, l.occurredAt)
    ) {
      l.status = 'held'
      delete l.payableAt
      l.reason = `Held (affiliate_suspended): the affiliate was suspended when this happened. ${l.reason}`
    }
    // the fraud rules hold it for review, or reject it: it waits for a person's decision
    if (this.fraud && l.status !== 'reversed' && l.kind !== 'rounding' && l.kind !== 'adjustment' && l.kind !== 'payment' && !new D(l.amount).isZero()) {
      const held = this.fraud.action === 'hold'
      l.status = held ? 'held' : 'rejected'
      delete l.payableAt
      l.reason = `${held ? 'Held for fraud review' : 'Rejected as fraud'} (${this.fraud.reasons}). ${l.reason}`
      const pb = this.player(this.fraud.affiliateId, this.fraud.playerKey)
      ;(pb.held ??= []).push({ ...l })
    }
    const b = this.book(l.affiliateId)
    const c = chain(b.head, l)
    b.head = c.hash
    b.lines++
    const out = { ...c, no: b.lines }
    this.lines.push(out)
    return out
  }

  /** A line, then the recruiters' shares of it; a line that may be taken back is remembered with those shares. */
  write(line: LedgerLine, o: { reversible?: boolean; basisEventId?: string } = {}) {
    const l = this.append(line)
    const subs = this.subShares(l)
    if (o.reversible && (l.kind === 'cpa' || l.kind === 'cpl' || l.kind === 'prop') && l.payableAt !== undefined) {
      this.player(l.affiliateId, l.playerKey).reversible.push({
        id: l.id,
        kind: l.kind,
        amount: l.amount,
        currency: l.currency,
        originalAmount: l.originalAmount,
        originalCurrency: l.originalCurrency,
        payableAt: l.payableAt,
        causeEventId: l.causeEventId,
        ...(o.basisEventId !== undefined ? { basisEventId: o.basisEventId } : {}),
        ...(l.kind === 'cpa' ? { day: dayOf(l.occurredAt) } : {}),
        dealId: l.dealId,
        dealVersion: l.dealVersion,
        period: l.period,
        fxRate: l.fxRate,
        fxDate: l.fxDate,
        subs,
      })
    }
  }

  base(f: AccrualFact, t: DealTerms) {
    return {
      affiliateId: f.affiliateId,
      seq: f.seq,
      idx: f.idx,
      n: f.n,
      occurredAt: f.occurredAt,
      period: this.periodFor(f.occurredAt, t.period),
      dealId: f.dealId,
      dealVersion: f.dealVersion,
      playerKey: f.playerKey,
      playerRef: f.playerRef,
      causeEventId: f.eventId,
    }
  }

  held(f: AccrualFact, holdDays: number): { status: 'pending' | 'payable'; payableAt: number } {
    return holdDays > 0 ? { status: 'pending', payableAt: f.occurredAt + holdDays * DAY_MS } : { status: 'payable', payableAt: f.occurredAt }
  }

  cpl(f: Fact<'registration'>, t: DealTerms) {
    const cpl = t.cpl!
    this.write(
      {
        ...this.base(f, t),
        id: `cpl:${f.playerKey}:${f.dealId}`,
        kind: 'cpl',
        status: 'payable',
        payableAt: f.occurredAt,
        ...same(cpl.amount, t.currency, dayOf(f.occurredAt)),
        estimated: false,
        reason: `CPL ${money(cpl.amount, t.currency)}: registered ${dayOf(f.occurredAt)}`,
      },
      { reversible: true },
    )
  }

  cpa(f: Fact<'qualified'>, t: DealTerms) {
    const cpa = t.cpa!
    const base = this.base(f, t)
    const slotKey = `${f.dealId}|${base.period}`
    const slot = (this.book(f.affiliateId).cpa[slotKey] ??= { live: 0, days: {}, reprices: 0 })
    slot.version = f.dealVersion
    if (cpa.retroTiers?.length) slot.paid ??= []
    const day = dayOf(f.occurredAt)
    const id = `cpa:${f.playerKey}:${f.dealId}`
    const today = slot.days[day] ?? 0
    const capped =
      cpa.caps?.daily !== undefined && today >= cpa.caps.daily
        ? `daily cap of ${cpa.caps.daily}`
        : cpa.caps?.monthly !== undefined && slot.live >= cpa.caps.monthly
          ? `${t.period === 'week' ? 'weekly' : 'monthly'} cap of ${cpa.caps.monthly}`
          : undefined
    if (capped) {
      this.write({
        ...base,
        id,
        kind: 'cpa',
        status: 'payable',
        ...same('0', t.currency, day),
        estimated: false,
        reason: `CPA not earned: the ${capped} CPAs is reached; qualified ${day}: ${f.why}`,
      })
      return
    }
    const n = slot.live + 1
    const price = priceAt(cpa, n)
    const hold = this.held(f, cpa.holdDays)
    const tier = (cpa.retroTiers ?? cpa.ladderTiers)?.some((r) => r.at <= n)
      ? ` (the ${ordinal(n)} CPA of ${base.period}: ${cpa.ladderTiers ? 'ladder' : 'tier'} price)`
      : ''
    this.write(
      {
        ...base,
        id,
        kind: 'cpa',
        ...hold,
        ...same(price, t.currency, day),
        estimated: false,
        reason: `CPA ${money(price, t.currency)}${tier}: qualified ${day}: ${f.why}`,
      },
      { reversible: true, basisEventId: f.basisEventId },
    )
    slot.live++
    slot.days[day] = today + 1
    slot.paid?.push({ player: f.playerKey, ref: f.playerRef, line: id, price, day, payableAt: hold.payableAt })
    this.reprice(slot, cpa, base, t, `${base.period} reached ${n} CPAs`)
    if (cpa.clawback) {
      Object.assign(this.clawback(f.affiliateId, f.playerKey, f.dealId), { slot: slotKey, line: id, price })
      this.absorb(f.affiliateId, f.playerKey, f.dealId, base, t)
    }
  }

  /** Retroactive tiers: every CPA of the period that counts is priced at the tier its count
   *  has reached, up when a CPA is added, down when one is reversed. */
  reprice(slot: CpaSlot, cpa: NonNullable<DealTerms['cpa']>, base: ReturnType<Writer['base']>, t: DealTerms, why: string) {
    if (!cpa.retroTiers?.length || !slot.paid || slot.closed) return
    const live = slot.paid.filter((p) => !p.reversed)
    const price = priceAt(cpa, slot.live)
    for (const p of live) {
      const delta = new D(price).minus(p.price)
      if (delta.isZero()) continue
      slot.reprices++
      this.write({
        ...base,
        playerKey: p.player,
        playerRef: p.ref,
        id: `cpa_retro:${p.line}:${slot.reprices}`,
        kind: 'cpa_retro',
        ...(p.payableAt > base.occurredAt ? { status: 'pending' as const, payableAt: p.payableAt } : { status: 'payable' as const }),
        ...same(delta.toFixed(), t.currency, dayOf(base.occurredAt)),
        refLineId: p.line,
        estimated: false,
        reason: `CPA re-priced from ${money(p.price, t.currency)} to ${money(price, t.currency)}: ${why}`,
      })
      p.price = price
    }
  }

  revenue(f: Fact<'revenue'>, t: DealTerms) {
    const rs = t.revshare!
    const b = this.base(f, t)
    const x = (k: string) => new D(f.facts[k as keyof typeof f.facts] ?? 0)
    let ngr = x('bets').minus(x('wins'))
    for (const d of rs.deductions) ngr = ngr.minus(x(d))
    const conv = this.ref.fx.convert(ngr, f.currency, t.currency, dayOf(f.occurredAt), this.asOf)
    if ('missing' in conv) {
      this.write({
        ...b,
        id: `rs:${f.eventId}:${b.period}`,
        kind: 'revshare',
        status: 'held',
        originalAmount: ngr.toFixed(),
        originalCurrency: f.currency,
        amount: '0',
        currency: t.currency,
        fxRate: '0',
        fxDate: '',
        estimated: true,
        reason: `RevShare held: ${conv.missing}`,
      })
      return
    }
    const slot = this.rsPeriod(f.affiliateId, f.dealId, b.period, f.dealVersion)
    slot.base = new D(slot.base).plus(conv.amount).toFixed()
    slot.version = f.dealVersion
    // under a high-roller clause, each player's NGR in the period (who alone went deep negative)
    if (rs.highRoller) (slot.players ??= {})[f.playerKey] = new D(slot.players?.[f.playerKey] ?? 0).plus(conv.amount).toFixed()
    this.rebalance(f.affiliateId, f.dealId, b, t, { eventId: f.eventId, ngr, currency: f.currency, rate: conv.rate, date: conv.date })
    if (t.cpa?.clawback) {
      const c = this.clawback(f.affiliateId, f.playerKey, f.dealId)
      c.ngr = new D(c.ngr).plus(conv.amount.times(new D(1).minus(rs.adminFee))).toFixed()
      this.absorb(f.affiliateId, f.playerKey, f.dealId, b, t)
    }
  }

  /** A deal's RevShare period in the books, made when first needed. */
  rsPeriod(affiliateId: number, dealId: string, period: string, version: number): RsPeriod {
    const periods = (this.book(affiliateId).rs[dealId] ??= {})
    return (periods[period] ??= { start: periodStartOf(period), base: '0', paid: '0', version })
  }

  /** RevShare bands by qualified FTDs: a player who qualified counts in its period (a CPA
   *  reversed in its hold takes it back out), and the period is paid at the rate the count reached. */
  countFtd(base: ReturnType<Writer['base']>, t: DealTerms, by: 1 | -1, cause: string) {
    const slot = this.rsPeriod(base.affiliateId, base.dealId, base.period, base.dealVersion)
    slot.ftds = Math.max(0, (slot.ftds ?? 0) + by)
    this.rebalance(base.affiliateId, base.dealId, base, t, undefined, `${base.period} has ${slot.ftds} qualified FTD${slot.ftds === 1 ? '' : 's'} (${cause})`)
  }

  /**
   * Walk the deal's RevShare periods in order, each at the terms of its own latest version (a
   * carry flows into the next), and write for each period the change in what it pays: the
   * period's own line when `own` NGR came in, else a re-balance (`why`: an earlier period's
   * carry, or the count of qualified FTDs that sets its rate).
   */
  rebalance(
    affiliateId: number,
    dealId: string,
    b: ReturnType<Writer['base']>,
    t: DealTerms,
    own: { eventId: string; ngr: D; currency: string; rate: string; date: string } | undefined,
    why?: string,
  ) {
    const periods = this.book(affiliateId).rs[dealId] ?? {}
    for (const { period: p, slot: s, terms, carriedIn: carry, net, pays, absorbed, moved } of revshareWalk(
      periods,
      (v) => this.terms(dealId, v)?.revshare ?? t.revshare!,
    )) {
      const delta = pays.minus(s.paid)
      if (!delta.isZero()) {
        const isOwn = own !== undefined && p === b.period
        const carried = carry.isZero() ? '' : `, ${money(carry.toFixed(), t.currency)} carried in`
        const fee = new D(terms.adminFee).isZero() ? '' : ` less a ${pct(terms.adminFee)} admin fee`
        const hr = absorbed ? `, less ${money(absorbed.toFixed(), t.currency)} that high rollers' revenue paid back of their own carry` : ''
        const hrMoved = moved ? `; ${money(moved.toFixed(), t.currency)} of the negative is carried by high rollers alone` : ''
        const rate = rateText(terms, net, s)
        this.write({
          ...b,
          period: p,
          id: own ? `rs:${own.eventId}:${p}` : `rs_tier:${b.causeEventId}:${dealId}:${p}`,
          kind: 'revshare',
          status: 'payable',
          originalAmount: isOwn ? own.ngr.toFixed() : '0',
          originalCurrency: own?.currency ?? t.currency,
          amount: delta.toFixed(),
          currency: t.currency,
          fxRate: own?.rate ?? '1',
          fxDate: own?.date ?? dayOf(b.occurredAt),
          estimated: true,
          reason: isOwn
            ? `RevShare ${rate}: the player's NGR ${money(own.ngr.toFixed(), own.currency)}; ${p} NGR ${money(s.base, t.currency)}${hr}${carried}${fee} pays ${money(pays.toFixed(), t.currency)}${hrMoved}`
            : own || p !== b.period
              ? `RevShare ${p} re-balanced: an earlier period's NGR changed the balance it carries in (${money(carry.toFixed(), t.currency)}); ${p} pays ${money(pays.toFixed(), t.currency)}`
              : `RevShare ${rate} re-tiered: ${why}; ${p} NGR ${money(s.base, t.currency)}${carried}${fee} pays ${money(pays.toFixed(), t.currency)}`,
        })
      }
      s.paid = pays.toFixed()
    }
  }

  terms(dealId: string, version: number): DealTerms | undefined {
    return this.ref.deal(dealId)?.versions.find((v) => v.version === version)?.terms
  }

  trade(f: Fact<'trade'>, t: DealTerms) {
    const ib = t.ib!
    const b = this.base(f, t)
    const day = dayOf(f.occurredAt)
    const group = ib.groups[f.instrument] ?? f.instrument
    // the rates of the chain, lowest tier first; the client's rebate comes off them in that order
    const rates = [ib.perLot[group] ?? ib.perLot['*'] ?? '0', ...ib.overridesPerLot]
    if (f.level >= rates.length) return
    let rebate = new D(ib.clientRebatePerLot)
    for (let k = 0; k < f.level; k++) rebate = D.max(0, rebate.minus(rates[k]!))
    const perLot = D.max(0, new D(rates[f.level]!).minus(rebate))
    const lots = new D(f.lots)
    const less = rebate.isZero()
      ? ''
      : ` (${money(rates[f.level]!, t.currency)} less ${money(D.min(rebate, rates[f.level]!).toFixed(), t.currency)} client rebate)`
    if (!perLot.isZero()) {
      this.write({
        ...b,
        id: `ib:${f.eventId}:${f.level}`,
        kind: f.level === 0 ? 'ib' : 'ib_override',
        status: 'payable',
        ...same(lots.times(perLot).toFixed(), t.currency, day),
        originalAmount: f.lots,
        originalCurrency: 'LOT',
        estimated: false,
        reason:
          f.level === 0
            ? `IB rebate: ${f.lots} lots ${f.instrument}${group !== f.instrument ? ` (${group})` : ''} × ${money(perLot.toFixed(), t.currency)}${less}`
            : `IB override, level ${f.level}: ${f.lots} lots ${f.instrument} by a client of a sub-IB × ${money(perLot.toFixed(), t.currency)}${less}`,
      })
    }
    if (f.level === 0 && ib.spreadShare && f.spread !== undefined) {
      const spread = lots.times(f.spread)
      const conv = this.ref.fx.convert(spread.times(ib.spreadShare), f.currency, t.currency, day, this.asOf)
      const common = {
        ...b,
        id: `ib_spread:${f.eventId}`,
        kind: 'ib' as const,
        originalAmount: spread.toFixed(),
        originalCurrency: f.currency,
        currency: t.currency,
        estimated: false,
      }
      if ('missing' in conv) this.write({ ...common, status: 'held', amount: '0', fxRate: '0', fxDate: '', reason: `spread share held: ${conv.missing}` })
      else
        this.write({
          ...common,
          status: 'payable',
          amount: conv.amount.toFixed(),
          fxRate: conv.rate,
          fxDate: conv.date,
          reason: `Spread share: ${f.lots} lots ${f.instrument} × ${money(f.spread, f.currency)} spread × ${pct(ib.spreadShare)}`,
        })
    }
  }

  challenge(f: Fact<'challenge'>, t: DealTerms) {
    const prop = t.prop!
    const b = this.base(f, t)
    const rate = f.first ? prop.firstPurchase : prop.reset
    const conv = this.ref.fx.convert(new D(f.amount).times(rate), f.currency, t.currency, dayOf(f.occurredAt), this.asOf)
    const common = {
      ...b,
      id: `prop:${f.eventId}`,
      kind: 'prop' as const,
      originalAmount: f.amount,
      originalCurrency: f.currency,
      currency: t.currency,
      estimated: false,
    }
    if ('missing' in conv) {
      this.write({ ...common, status: 'held', amount: '0', fxRate: '0', fxDate: '', reason: `challenge fee share held: ${conv.missing}` })
      return
    }
    this.write(
      {
        ...common,
        ...this.held(f, prop.refundWindowDays),
        amount: conv.amount.toFixed(),
        fxRate: conv.rate,
        fxDate: conv.date,
        reason: `${pct(rate)} of the ${f.first ? 'first challenge purchase' : 'challenge reset'} ${money(f.amount, f.currency)}${prop.refundWindowDays > 0 ? `, held ${prop.refundWindowDays} days for refunds` : ''}`,
      },
      { reversible: true },
    )
  }

  /**
   * Take back, with new lines, what the event undoes:
   * - a refund or chargeback of what a CPA rests on (its first deposit or purchase), inside the CPA's hold: the CPA;
   * - the refund of a challenge purchase: its fee share (inside the refund window, or after payment: it nets);
   * - a player found KYC-failed, self-excluded or a duplicate: every line of the player still in its hold.
   */
  reverse(f: Fact<'reversal'>, t: DealTerms, note?: string) {
    const b = this.book(f.affiliateId)
    if (!b.players[f.playerKey]) return
    const pb = this.player(f.affiliateId, f.playerKey)
    const status = f.why === 'kyc_failed' || f.why === 'self_excluded' || f.why === 'duplicate'
    const inHold = (r: Reversible) => r.payableAt > f.occurredAt
    const hit = (r: Reversible) =>
      f.why === 'fraud_rejected'
        ? r.dealId === f.dealId && r.dealVersion === f.dealVersion
        : status
          ? inHold(r)
          : r.kind === 'prop'
            ? f.refEventId !== undefined && r.causeEventId === f.refEventId
            : r.kind === 'cpa' && inHold(r) && (f.refEventId === undefined || r.basisEventId === f.refEventId)
    const taken = pb.reversible.filter(hit)
    pb.reversible = pb.reversible.filter((r) => !hit(r))
    const base = this.base(f, t)
    const words: Record<typeof f.why, string> = {
      refund: 'the deposit was refunded',
      chargeback: 'the deposit was charged back',
      challenge_refund: 'the challenge fee was refunded',
      kyc_failed: 'the player failed KYC',
      self_excluded: 'the player self-excluded',
      duplicate: 'the player is a duplicate of another',
      fraud_rejected: `the player's traffic was ${note ?? 'rejected as fraud'}`,
    }
    for (const r of taken) {
      // a CPA is taken back at its current price: with the retroactive tiers it reached
      const slotKey = `${r.dealId}|${r.period}`
      const slot = r.kind === 'cpa' ? b.cpa[slotKey] : undefined
      const paid = slot?.paid?.find((x) => x.line === r.id)
      const amount = new D(paid?.price ?? r.amount)
      const when = inHold(r) ? 'in its hold' : 'after its hold: netted against the next payment'
      this.append({
        ...base,
        period: r.period,
        dealId: r.dealId,
        dealVersion: r.dealVersion,
        id: `rev:${r.id}`,
        kind: 'reversal',
        status: 'reversed',
        originalAmount: new D(r.originalAmount).negated().toFixed(),
        originalCurrency: r.originalCurrency,
        amount: amount.negated().toFixed(),
        currency: r.currency,
        fxRate: r.fxRate,
        fxDate: r.fxDate,
        refLineId: r.id,
        estimated: false,
        reason: `Reversed ${r.kind} ${money(amount.toFixed(), r.currency)} ${when}: ${words[f.why]} (${dayOf(f.occurredAt)})`,
      })
      // the recruiters' shares of it, as they were paid
      for (const s of r.subs) {
        this.append({
          ...base,
          affiliateId: s.affiliateId,
          playerKey: '',
          playerRef: '',
          period: s.period,
          dealId: s.dealId,
          dealVersion: s.dealVersion,
          id: `rev:${s.id}`,
          kind: 'reversal',
          status: 'reversed',
          originalAmount: amount.negated().toFixed(),
          originalCurrency: r.currency,
          amount: amount.times(s.rate).times(s.fxRate).negated().toFixed(),
          currency: s.currency,
          fxRate: s.fxRate,
          fxDate: s.fxDate,
          refLineId: s.id,
          estimated: false,
          reason: `Reversed sub-affiliate share, tier ${s.tier}: affiliate ${f.affiliateId}'s ${r.kind} was reversed (${words[f.why]})`,
        })
      }
      if (slot) {
        // it no longer counts toward the period's caps and tiers (a closed period's tiers stay as the close left them)
        const open = !this.isClosed(r.period)
        slot.live = Math.max(0, slot.live - 1)
        if (r.day !== undefined && slot.days[r.day]) slot.days[r.day]!--
        if (paid) paid.reversed = true
        const cpa = this.terms(r.dealId, r.dealVersion)?.cpa
        if (cpa && open)
          this.reprice(slot, cpa, { ...base, period: r.period, dealId: r.dealId, dealVersion: r.dealVersion }, t, `a CPA of ${r.period} was reversed`)
        const c = pb.clawback?.[r.dealId]
        if (c?.line === r.id) c.price = '0'
        const rt = this.terms(r.dealId, r.dealVersion)
        if (rt?.revshare?.tierBy === 'qualified_ftds' && open)
          this.countFtd(
            { ...base, period: r.period, dealId: r.dealId, dealVersion: r.dealVersion },
            rt,
            -1,
            `a CPA of ${r.period} was reversed: ${words[f.why]}`,
          )
        if (cpa?.clawback) this.absorb(f.affiliateId, f.playerKey, r.dealId, base, t)
      }
    }
  }

  /** What the fraud rules do with what a fact earns: its mark, unless a review approved the
   *  player after the mark was made; a player rejected by review earns nothing from then on;
   *  while the affiliate's late-conversion share is past its hold line, what it earns is held. */
  fraudOf(f: AccrualFact): Writer['fraud'] {
    const book = this.books[f.affiliateId]
    const review = book?.players[f.playerKey]?.review
    if (review?.decision === 'reject') return { action: 'reject', reasons: 'rejected by review', affiliateId: f.affiliateId, playerKey: f.playerKey }
    const mark = f.fraud && !(review?.decision === 'approve' && f.fraud.at <= review.at) ? f.fraud : undefined
    if (mark?.action === 'reject') return { action: 'reject', reasons: mark.reasons, affiliateId: f.affiliateId, playerKey: f.playerKey }
    const late = book?.lateHold && !(review?.decision === 'approve' && book.lateHold.since <= review.at)
    if (!mark && !late) return undefined
    const reasons = [mark?.reasons, late ? 'late_conversions' : undefined].filter(Boolean).join(', ')
    return { action: 'hold', reasons, affiliateId: f.affiliateId, playerKey: f.playerKey }
  }

  /**
   * The affiliate's late-conversion share over the last 30 days (click spamming): a
   * registration counts as late when it came more than the settings' hours after its click.
   * Past the flag line it is shown (the fraud view reads it from the events); past the hold
   * line (halfway from the flag line to 100%) the affiliate's new money is held until the share
   * falls back or a review approves a player. A rule in shadow mode holds nothing.
   */
  lateShare(f: ConversionFact) {
    const b = this.book(f.affiliateId)
    const day = dayOf(f.occurredAt)
    const days = (b.lateDays ??= {})
    const oldest = dayOf(f.occurredAt - 29 * DAY_MS)
    for (const d of Object.keys(days)) if (d < oldest) delete days[d]
    const c = (days[day] ??= [0, 0])
    c[0]++
    if (f.ctitMs > f.late.afterHours * 3_600_000) c[1]++
    let n = 0
    let late = 0
    for (const [x, y] of Object.values(days)) {
      n += x
      late += y
    }
    const found = f.late.shadow
      ? undefined
      : lateShareFinding(n, late, { lateShareMax: f.late.max, lateAfterHours: f.late.afterHours, lateMinConversions: f.late.minConversions })
    if (found?.action === 'hold') b.lateHold ??= { since: f.occurredAt, share: Number((late / n).toFixed(3)) }
    else delete b.lateHold
  }

  /**
   * The rules marked a player after it had earned (bonus abuse shows at a withdrawal, after the
   * first deposit's CPA): each of its lines still in its hold (and the recruiters' shares of
   * it) is netted out where it stands (pending) and written again held, or rejected, for review.
   * What is past its hold stays: a review's reject takes it back.
   */
  mark(f: MarkFact) {
    const book = this.books[f.affiliateId]
    if (!book?.players[f.playerKey]) return
    const pb = this.player(f.affiliateId, f.playerKey)
    if (pb.review?.decision === 'approve' && f.occurredAt <= pb.review.at) return
    const at = { seq: f.seq, idx: f.idx, n: f.n, occurredAt: f.occurredAt, causeEventId: f.eventId }
    const moving = pb.reversible.filter((r) => r.payableAt > f.occurredAt)
    pb.reversible = pb.reversible.filter((r) => r.payableAt <= f.occurredAt)
    const slotPaid = (r: Reversible) => (r.kind === 'cpa' ? book.cpa[`${r.dealId}|${r.period}`]?.paid?.find((x) => x.line === r.id) : undefined)
    for (const r of moving) {
      const amount = new D(slotPaid(r)?.price ?? r.amount)
      const lines = [
        {
          affiliateId: f.affiliateId,
          id: r.id,
          kind: r.kind as LedgerLine['kind'],
          amount,
          dealId: r.dealId,
          dealVersion: r.dealVersion,
          period: r.period,
          currency: r.currency,
          fxRate: r.fxRate,
          fxDate: r.fxDate,
          own: true,
        },
        ...r.subs.map((s) => ({
          affiliateId: s.affiliateId,
          id: s.id,
          kind: 'sub' as const,
          amount: amount.times(s.rate).times(s.fxRate),
          dealId: s.dealId,
          dealVersion: s.dealVersion,
          period: s.period,
          currency: s.currency,
          fxRate: s.fxRate,
          fxDate: s.fxDate,
          own: false,
        })),
      ]
      for (const l of lines) {
        const common = {
          ...at,
          affiliateId: l.affiliateId,
          playerKey: l.own ? f.playerKey : '',
          playerRef: l.own ? f.playerRef : '',
          period: l.period,
          dealId: l.dealId,
          dealVersion: l.dealVersion,
          currency: l.currency,
          fxRate: l.fxRate,
          fxDate: l.fxDate,
          originalCurrency: l.own ? r.originalCurrency : r.currency,
          estimated: false,
          refLineId: l.id,
        }
        this.append({
          ...common,
          id: `mv:${l.id}`,
          kind: 'reversal',
          status: 'reversed',
          amount: l.amount.negated().toFixed(),
          originalAmount: l.own ? new D(r.originalAmount).negated().toFixed() : amount.negated().toFixed(),
          reason: `Moved to fraud review (${f.reasons}): ${l.kind} ${money(l.amount.toFixed(), l.currency)}`,
        })
        this.fraud = { action: f.action, reasons: f.reasons, affiliateId: f.affiliateId, playerKey: f.playerKey }
        this.append({
          ...common,
          id: `fr:${l.id}`,
          kind: l.kind,
          status: 'pending',
          amount: l.amount.toFixed(),
          originalAmount: l.own ? r.originalAmount : amount.toFixed(),
          reason: `${l.kind} ${money(l.amount.toFixed(), l.currency)} of ${dayOf(r.payableAt)}'s hold, found ${dayOf(f.occurredAt)}`,
        })
        this.fraud = undefined
      }
    }
  }

  /**
   * A fraud review's decision on a player. Each line the rules held or rejected is netted out
   * (a reversal of it, where it counts: held or rejected); approved, it is written again,
   * payable, in the open period: released, and paid once, by the next statement. Rejected, it
   * is gone, and what the player's traffic was paid already is taken back (a reversal counted
   * as payable: a negative line on the next statement).
   */
  review(f: ReviewFact) {
    const pb = this.player(f.affiliateId, f.playerKey)
    const approve = f.decision === 'approve'
    const words = `${approve ? 'released' : 'rejected'} by ${f.by} after review: ${f.note}`
    const at = { seq: f.seq, idx: f.idx, n: f.n, occurredAt: f.occurredAt, causeEventId: f.id, playerKey: f.playerKey, playerRef: f.playerRef }
    for (const h of pb.held ?? []) {
      const period = this.periodFor(f.occurredAt, periodKindOf(h.period) ?? 'month')
      const { payableAt: _p, refLineId: _r, ...line } = h
      this.append({
        ...line,
        ...at,
        period,
        id: `${approve ? 'rel' : 'rej'}:${h.id}`,
        kind: 'reversal',
        status: 'reversed',
        originalAmount: new D(h.originalAmount).negated().toFixed(),
        amount: new D(h.amount).negated().toFixed(),
        refLineId: h.id,
        reason: `${h.status === 'held' ? 'Held' : 'Rejected'} ${h.kind} ${money(h.amount, h.currency)} ${words}`,
      })
      if (approve)
        this.append({
          ...line,
          ...at,
          period,
          id: `ok:${h.id}`,
          status: 'payable',
          payableAt: f.occurredAt,
          refLineId: h.id,
          reason: `Released after review by ${f.by} (${f.note}): ${h.reason}`,
        })
    }
    pb.held = []
    pb.review = { decision: f.decision, at: f.occurredAt }
    if (approve) return
    // what was paid already (or is payable, or in its hold) is taken back
    const byDeal = new Map<string, Reversible>()
    for (const r of pb.reversible) byDeal.set(`${r.dealId}|${r.dealVersion}`, r)
    for (const r of byDeal.values()) {
      const t = this.terms(r.dealId, r.dealVersion)
      if (!t) continue
      this.reverse(
        {
          type: 'reversal',
          why: 'fraud_rejected',
          seq: f.seq,
          idx: f.idx,
          n: f.n,
          affiliateId: f.affiliateId,
          playerKey: f.playerKey,
          playerRef: f.playerRef,
          eventId: f.id,
          occurredAt: f.occurredAt,
          dealId: r.dealId,
          dealVersion: r.dealVersion,
        },
        t,
        `${words}`,
      )
    }
  }

  /** Finance's manual adjustment: a line of the open month, payable, with the reason given
   *  (no deal, no recruiter's share: it corrects this affiliate's balance alone). */
  adjust(f: AdjustFact) {
    this.append({
      affiliateId: f.affiliateId,
      seq: f.seq,
      idx: f.idx,
      n: f.n,
      occurredAt: f.occurredAt,
      period: this.periodFor(f.occurredAt, 'month'),
      dealId: '',
      dealVersion: 0,
      playerKey: '',
      playerRef: '',
      causeEventId: f.id,
      id: `${f.kind === 'payment' ? 'pay' : 'adj'}:${f.id}`,
      kind: f.kind ?? 'adjustment',
      status: 'payable',
      ...same(f.amount, f.currency, dayOf(f.occurredAt)),
      estimated: false,
      reason:
        f.kind === 'payment'
          ? `Paid ${money(new D(f.amount).negated().toFixed(), f.currency)}: ${f.reason}`
          : `Manual adjustment ${money(f.amount, f.currency)} by ${f.by}: ${f.reason}`,
    })
  }

  // ---- the close of a period ----

  /** Phase 1 of a close (see closePeriod); false when the period was closed already. */
  finalise(c: CloseFact): boolean {
    const kind = periodKindOf(c.period)
    if (!kind) throw new Error(`not a period: ${c.period}`)
    const closed = this.program.closed[kind]
    if (closed && c.period <= closed.period) return false // closed already (a close of it, or of a later period, came first)
    // what the close writes happened at the period's last instant: it is the period's
    const end = periodEndOf(c.period) - 1
    for (const aff of affiliateOrder(this.books)) {
      const book = this.book(aff)
      for (const [key, slot] of Object.entries(book.cpa).sort(([a], [b]) => (a < b ? -1 : 1))) {
        const [dealId, period] = key.split('|') as [string, string]
        if (slot.closed || periodKindOf(period) !== kind || period > c.period) continue
        slot.closed = true
        const version = slot.version ?? 1
        const cpa = this.terms(dealId, version)?.cpa
        if (!cpa?.retroTiers?.length || !slot.paid) continue
        const live = slot.paid.filter((p) => !p.reversed)
        const approved = live.filter((p) => p.payableAt <= c.asOf).length
        const price = priceAt(cpa, approved)
        const currency = this.terms(dealId, version)!.currency
        for (const p of live) {
          const delta = new D(price).minus(p.price)
          if (delta.isZero()) continue
          this.write({
            affiliateId: aff,
            seq: c.seq,
            idx: c.idx,
            n: c.n,
            occurredAt: end,
            period,
            dealId,
            dealVersion: version,
            playerKey: p.player,
            playerRef: p.ref,
            causeEventId: c.closeId,
            id: `cpa_retro:${p.line}:close`,
            kind: 'cpa_retro',
            ...(p.payableAt > c.asOf ? { status: 'pending' as const, payableAt: p.payableAt } : { status: 'payable' as const }),
            ...same(delta.toFixed(), currency, dayOf(end)),
            refLineId: p.line,
            estimated: false,
            reason: `CPA trued up at the close of ${period} from ${money(p.price, currency)} to ${money(price, currency)}: ${approved} of its ${live.length} CPA${live.length === 1 ? '' : 's'} approved (hold ended, not reversed)`,
          })
          p.price = price
        }
      }
    }
    this.program.closed[kind] = { period: c.period, asOf: c.asOf }
    return true
  }

  /** The statements of a close, their rounding lines and seals (see sealStatements). */
  seal(c: CloseFact, collected: (affiliateId: number) => Collected | undefined): Statement[] {
    const kind = periodKindOf(c.period)!
    const end = periodEndOf(c.period) - 1
    const out: Statement[] = []
    for (const aff of affiliateOrder(this.books)) {
      // an affiliate the stage has applied nothing to has no statement
      const b0 = this.books[String(aff)]
      if (!b0 || (b0.at === undefined && b0.lines === 0)) continue
      const book = this.book(aff)
      const prev = book.closes?.[kind]
      if (prev && c.period <= prev.period) continue // this close was applied already
      const s = settle(aff, collected(aff) ?? { groups: [], waiting: {} }, {
        period: c.period,
        rounding: c.rounding,
        threshold: c.threshold,
        carriedIn: prev?.carry,
      })
      for (const r of s.rounding) {
        const ref = statementLineRef(aff, c.period, r.line)
        const l = r.line
        this.append({
          affiliateId: aff,
          seq: c.seq,
          idx: c.idx,
          n: c.n,
          occurredAt: end,
          period: c.period,
          dealId: l.dealId,
          dealVersion: l.dealVersion,
          playerKey: '',
          playerRef: '',
          causeEventId: c.closeId,
          id: `round:${ref}`,
          kind: 'rounding',
          status: 'payable',
          ...same(r.amount, l.currency, dayOf(end)),
          refLineId: ref,
          estimated: false,
          reason: `Rounding: the ${c.period} statement's ${l.kind} line${l.dealId ? ` of deal ${l.dealId} v${l.dealVersion}` : ''} sums to ${money(l.exact, l.currency)} and pays ${money(l.amount, l.currency)} (rounded once, ${c.rounding.replace('_', '-')})`,
        })
      }
      book.closes = { ...book.closes, [kind]: { period: c.period, asOf: c.asOf, no: book.lines, carry: carryOf(s) } }
      out.push({ ...s, seal: { no: book.lines, hash: book.head } })
    }
    return out
  }

  // ---- a clawback deal: the CPA is an advance the player's RevShare pays back first ----

  clawback(affiliateId: number, player: string, dealId: string) {
    const pb = this.player(affiliateId, player)
    return ((pb.clawback ??= {})[dealId] ??= { ngr: '0', absorbed: '0' })
  }

  /** The advance absorbs the player's own RevShare (the player's NGR at the deal's first rate)
   *  up to its size; an offset line moves by what that changed. Other players' NGR, and the
   *  order the facts came in, change nothing here. */
  absorb(affiliateId: number, player: string, dealId: string, b: ReturnType<Writer['base']>, t: DealTerms) {
    const c = this.clawback(affiliateId, player, dealId)
    // the advance is the CPA's current price (a retroactive tier raises it; a reversal ends it)
    const paid = c.slot ? this.book(affiliateId).cpa[c.slot]?.paid?.find((p) => p.line === c.line) : undefined
    const advance = paid ? (paid.reversed ? '0' : paid.price) : (c.price ?? '0')
    const rate = t.revshare?.bands[0]?.rate ?? '0'
    const rs = new D(c.ngr).times(rate)
    const absorbed = D.max(0, D.min(rs, advance)).toDecimalPlaces(LEDGER_SCALE)
    const delta = absorbed.minus(c.absorbed)
    if (delta.isZero()) return
    c.absorbed = absorbed.toFixed()
    this.write({
      ...b,
      playerKey: player,
      id: `clawback:${player}:${dealId}:${b.causeEventId}:${b.n}`,
      kind: 'clawback',
      status: 'payable',
      ...same(delta.negated().toFixed(), t.currency, dayOf(b.occurredAt)),
      estimated: true,
      reason: `CPA advance ${money(advance, t.currency)} offsets the player's RevShare (${money(rs.toFixed(), t.currency)} so far): ${money(absorbed.toFixed(), t.currency)} absorbed`,
    })
  }

  // ---- sub-affiliates: the recruiters above earn a share of every line ----

  /** Write the recruiters' shares of a line; returns them, for the line's reversal. */
  subShares(l: NumberedLine): SubShare[] {
    const out: SubShare[] = []
    if (l.kind === 'sub' || new D(l.amount).isZero()) return out
    let child = l.affiliateId
    const seen = new Set([l.affiliateId])
    for (let tier = 1; tier <= MAX_SUB_DEPTH; tier++) {
      const parent = this.ref.parentOf(child, l.occurredAt)
      // self-referral (the chain coming back to the earner) earns nothing
      if (parent === undefined || seen.has(parent)) break
      seen.add(parent)
      child = parent
      const own = this.ref.ownDeal(parent, l.occurredAt)
      const rate = own?.version.terms.subAffiliate?.tiers[tier - 1]
      if (!own || rate === undefined) continue
      const t = own.version.terms
      const conv = this.ref.fx.convert(new D(l.amount).times(rate), l.currency, t.currency, dayOf(l.occurredAt), this.asOf)
      if ('missing' in conv || conv.amount.isZero()) continue
      const id = `sub:${l.id}:${l.affiliateId}:${tier}`
      const period = this.periodFor(l.occurredAt, t.period)
      this.append({
        ...l,
        affiliateId: parent,
        playerKey: '',
        playerRef: '',
        period,
        dealId: own.deal.id,
        dealVersion: own.version.version,
        id,
        kind: 'sub',
        originalAmount: l.amount,
        originalCurrency: l.currency,
        amount: conv.amount.toFixed(),
        currency: t.currency,
        fxRate: conv.rate,
        fxDate: conv.date,
        refLineId: l.id,
        reason: `Sub-affiliate share, tier ${tier}: ${pct(rate)} of affiliate ${l.affiliateId}'s ${l.kind} ${money(l.amount, l.currency)}`,
      })
      out.push({
        affiliateId: parent,
        tier,
        rate,
        id,
        dealId: own.deal.id,
        dealVersion: own.version.version,
        period,
        currency: t.currency,
        fxRate: conv.rate,
        fxDate: conv.date,
      })
    }
    return out
  }
}

/** The CPA price for the n-th paid CPA of the period: the highest tier reached, else the base amount. */
export function priceAt(cpa: NonNullable<DealTerms['cpa']>, n: number): string {
  let price = cpa.amount
  let at = 0
  for (const r of cpa.retroTiers ?? cpa.ladderTiers ?? []) if (r.at <= n && r.at > at) [price, at] = [r.amount, r.at]
  return price
}

function toScale(x: string): string {
  return new D(x).toDecimalPlaces(LEDGER_SCALE).toFixed()
}

function same(amount: string, currency: string, day: string) {
  return { originalAmount: amount, originalCurrency: currency, amount, currency, fxRate: '1', fxDate: day }
}

function rateText(rs: NonNullable<DealTerms['revshare']>, net: D, slot?: Pick<RsPeriod, 'ftds'>): string {
  if (rs.bands.length === 1) return pct(rs.bands[0]!.rate)
  if (rs.tierBy === 'qualified_ftds') {
    const n = slot?.ftds ?? 0
    return `${pct(ftdRate(rs, { ftds: n }))} (tiered by ${n} qualified FTD${n === 1 ? '' : 's'})`
  }
  if (rs.mode === 'ladder') return `ladder ${rs.bands.map((b) => pct(b.rate)).join(' / ')}`
  return `${pct(rs.bands[bandIndex(rs.bands, net)]!.rate)} (tiered)`
}

/** An amount for a person: at least the currency's minor unit, full precision beyond it. */
export function money(amount: string, currency: string): string {
  const d = new D(amount)
  const dp = Math.max(minorUnits(currency), d.decimalPlaces())
  return `${d.toFixed(dp)} ${currency}`
}

function pct(rate: string): string {
  return `${new D(rate).times(100).toFixed()}%`
}

function ordinal(n: number): string {
  const s = n % 100 >= 11 && n % 100 <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th')
  return `${n}${s}`
}
