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
import type { Deal, DealTerms, DealVersion } from '../../../common/deals.js'
import { D, LEDGER_SCALE, minorUnits } from '../../../common/money.js'
import type { AccrualFact } from './accrual.js'
import { applyBands, bandIndex } from './bands.js'
import type { FxTable } from './fx.js'
import { chain, GENESIS, type ChainedLine, type LedgerLine, type LineKind } from '../../../common/ledger.js'
import { dayOf, periodOf } from './periods.js'

const DAY_MS = 86_400_000
/** The deepest ancestor a sub-affiliate share is paid to, whatever a deal says. */
export const MAX_SUB_DEPTH = 5

export type Reference = {
  /** a deal by id (every version) */
  deal(id: string): Deal | undefined
  fx: FxTable
  /** the affiliate's parent (recruiter) when the event happened */
  parentOf(affiliateId: number, at: number): number | undefined
  /** an affiliate's own deal in force at `at` with no brand or country, for its sub-affiliate shares */
  ownDeal(affiliateId: number, at: number): { deal: Deal; version: DealVersion } | undefined
}

/** A line still in its hold: what a refund, chargeback or player status may take back. */
type HeldLine = { id: string; kind: LineKind; amount: string; originalAmount: string; originalCurrency: string; payableAt: number; causeEventId: string; dealId: string; dealVersion: number; period: string; fxRate: string; fxDate: string }

type CpaSlot = {
  /** every CPA paid in the period under the deal, in order (a reversed one still counts toward the tier; the close trues it up) */
  paid: { player: string; ref: string; line: string; price: string; payableAt: number; reversed?: true }[]
  /** paid CPAs per UTC day, for the daily cap */
  days: Record<string, number>
}

type PlayerBook = {
  held: HeldLine[]
  /** per deal, for a clawback deal: the player's CPA (its slot and line: the advance is its
   *  current price there), the player's RevShare so far, and how much of it the advance has absorbed */
  clawback?: Record<string, { slot?: string; line?: string; rs: string; absorbed: string }>
}

export type AffiliateBook = {
  /** the last fact applied: [seq, idx, n] */
  at?: [number, number, number]
  head: string
  lines: number
  cpa: Record<string, CpaSlot>
  /** per deal, per period: the RevShare base (NGR after the admin fee, program currency) and what its lines add up to */
  rs: Record<string, Record<string, { base: string; paid: string }>>
  players: Record<string, PlayerBook>
}

export type Books = Record<string, AffiliateBook>

export function emptyBook(): AffiliateBook {
  return { head: GENESIS, lines: 0, cpa: {}, rs: {}, players: {} }
}

export type NumberedLine = ChainedLine & { no: number }

export type StageOutput = { lines: NumberedLine[]; books: Books }

/** Apply facts (in cause order) to the books. `books` is not modified; the changed books are returned whole. */
export function applyFacts(books: Books, facts: readonly AccrualFact[], ref: Reference): StageOutput {
  const w = new Writer(books, ref)
  for (const f of facts) {
    const book = w.book(f.affiliateId)
    if (book.at && !after([f.seq, f.idx, f.n], book.at)) continue
    book.at = [f.seq, f.idx, f.n]
    const found = ref.deal(f.dealId)
    const version = found?.versions.find((v) => v.version === f.dealVersion)
    if (!found || !version) throw new Error(`deal ${f.dealId} version ${f.dealVersion} is not in the reference data`)
    const t = version.terms
    switch (f.type) {
      case 'registration':
        if (t.cpl) w.cpl(f, t)
        break
      case 'qualified':
        if (t.cpa) w.cpa(f, t)
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
  return { lines: w.lines, books: w.books }
}

function after(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! > b[i]!
  return false
}

type Fact<T extends AccrualFact['type']> = Extract<AccrualFact, { type: T }>

class Writer {
  readonly lines: NumberedLine[] = []
  readonly books: Books

  constructor(
    books: Books,
    private readonly ref: Reference,
  ) {
    // copy on first touch: the caller's books stay as they were
    this.books = { ...books }
    this.#touched = new Set()
  }

  readonly #touched: Set<string>

  book(affiliateId: number): AffiliateBook {
    const k = String(affiliateId)
    if (!this.#touched.has(k)) {
      this.books[k] = this.books[k] ? structuredClone(this.books[k]) : emptyBook()
      this.#touched.add(k)
    }
    return this.books[k]!
  }

  player(affiliateId: number, ref: string): PlayerBook {
    const b = this.book(affiliateId)
    return (b.players[ref] ??= { held: [] })
  }

  /** Append a line to its affiliate's chain; then the shares of the affiliates above it. */
  write(line: LedgerLine) {
    // full precision, to the ledger's scale (12 decimals, half-even): a product of a rate and an
    // amount can have more; rounding to the currency's minor unit happens once, on the statement
    const l = { ...line, amount: toScale(line.amount), originalAmount: toScale(line.originalAmount) }
    const b = this.book(l.affiliateId)
    const c = chain(b.head, l)
    b.head = c.hash
    b.lines++
    this.lines.push({ ...c, no: b.lines })
    // a parent's share is taken back by the share of the child's reversal, not by the parent's players
    // (a re-priced CPA is taken back whole with its CPA, at its current price)
    if (l.payableAt !== undefined && l.status === 'pending' && (l.kind === 'cpa' || l.kind === 'cpl' || l.kind === 'prop')) {
      this.player(l.affiliateId, l.playerKey).held.push({
        id: l.id,
        kind: l.kind,
        amount: l.amount,
        originalAmount: l.originalAmount,
        originalCurrency: l.originalCurrency,
        payableAt: l.payableAt,
        causeEventId: l.causeEventId,
        dealId: l.dealId,
        dealVersion: l.dealVersion,
        period: l.period,
        fxRate: l.fxRate,
        fxDate: l.fxDate,
      })
    }
    if (l.kind !== 'sub') this.subShares(l)
  }

  base(f: AccrualFact, t: DealTerms) {
    return { affiliateId: f.affiliateId, seq: f.seq, idx: f.idx, n: f.n, occurredAt: f.occurredAt, period: periodOf(f.occurredAt, t.period), dealId: f.dealId, dealVersion: f.dealVersion, playerKey: f.playerKey, playerRef: f.playerRef, causeEventId: f.eventId }
  }

  held(f: AccrualFact, holdDays: number): { status: 'pending' | 'payable'; payableAt?: number } {
    return holdDays > 0 ? { status: 'pending', payableAt: f.occurredAt + holdDays * DAY_MS } : { status: 'payable' }
  }

  cpl(f: Fact<'registration'>, t: DealTerms) {
    const cpl = t.cpl!
    this.write({
      ...this.base(f, t),
      id: `cpl:${f.playerKey}:${f.dealId}`,
      kind: 'cpl',
      status: 'payable',
      ...same(cpl.amount, t.currency, dayOf(f.occurredAt)),
      estimated: false,
      reason: `CPL ${money(cpl.amount, t.currency)}: registered ${dayOf(f.occurredAt)}`,
    })
  }

  cpa(f: Fact<'qualified'>, t: DealTerms) {
    const cpa = t.cpa!
    const base = this.base(f, t)
    const slot = (this.book(f.affiliateId).cpa[`${f.dealId}|${base.period}`] ??= { paid: [], days: {} })
    const day = dayOf(f.occurredAt)
    const id = `cpa:${f.playerKey}:${f.dealId}`
    const capped = cpa.caps?.daily !== undefined && (slot.days[day] ?? 0) >= cpa.caps.daily ? `daily cap of ${cpa.caps.daily}` : cpa.caps?.monthly !== undefined && slot.paid.length >= cpa.caps.monthly ? `${t.period === 'week' ? 'weekly' : 'monthly'} cap of ${cpa.caps.monthly}` : undefined
    if (capped) {
      this.write({ ...base, id, kind: 'cpa', status: 'payable', ...same('0', t.currency, day), estimated: false, reason: `CPA not earned: the ${capped} CPAs is reached; qualified ${day}: ${f.why}` })
      return
    }
    const n = slot.paid.length + 1
    const price = priceAt(cpa, n)
    const prev = priceAt(cpa, n - 1)
    const hold = this.held(f, cpa.holdDays)
    const tier = n > 1 && cpa.retroTiers?.some((r) => r.at <= n) ? ` (the ${ordinal(n)} CPA of ${base.period}: tier price)` : ''
    this.write({ ...base, id, kind: 'cpa', ...hold, ...same(price, t.currency, day), estimated: false, reason: `CPA ${money(price, t.currency)}${tier}: qualified ${day}: ${f.why}` })
    if (cpa.clawback) {
      Object.assign(this.clawback(f.affiliateId, f.playerKey, f.dealId), { slot: `${f.dealId}|${base.period}`, line: id })
      this.absorb(f.affiliateId, f.playerKey, f.dealId, base, t)
    }
    if (n > 1 && !new D(price).eq(prev)) {
      // retroactive tier: every earlier CPA of the period is re-priced to the new amount
      for (const p of slot.paid) {
        if (p.reversed) continue
        const delta = new D(price).minus(p.price)
        if (delta.isZero()) continue
        this.write({
          ...base,
          playerKey: p.player,
          playerRef: p.ref,
          id: `cpa_retro:${p.line}:${n}`,
          kind: 'cpa_retro',
          ...(p.payableAt > f.occurredAt ? { status: 'pending' as const, payableAt: p.payableAt } : { status: 'payable' as const }),
          ...same(delta.toFixed(), t.currency, day),
          refLineId: p.line,
          estimated: true,
          reason: `CPA re-priced from ${money(p.price, t.currency)} to ${money(price, t.currency)}: ${base.period} reached ${n} CPAs`,
        })
        p.price = price
      }
    }
    slot.paid.push({ player: f.playerKey, ref: f.playerRef, line: id, price, payableAt: hold.payableAt ?? f.occurredAt })
    slot.days[day] = (slot.days[day] ?? 0) + 1
  }

  revenue(f: Fact<'revenue'>, t: DealTerms) {
    const rs = t.revshare!
    const b = this.base(f, t)
    const x = (k: string) => new D(f.facts[k as keyof typeof f.facts] ?? 0)
    let ngr = x('bets').minus(x('wins'))
    for (const d of rs.deductions) ngr = ngr.minus(x(d))
    const afterFee = ngr.times(new D(1).minus(rs.adminFee))
    const conv = this.ref.fx.convert(afterFee, f.currency, t.currency, dayOf(f.occurredAt))
    if ('missing' in conv) {
      this.write({ ...b, id: `rs:${f.eventId}:${b.period}`, kind: 'revshare', status: 'held', originalAmount: ngr.toFixed(), originalCurrency: f.currency, amount: '0', currency: t.currency, fxRate: '0', fxDate: '', estimated: true, reason: `RevShare held: ${conv.missing}` })
      return
    }
    const periods = ((this.book(f.affiliateId).rs[f.dealId] ??= {}))
    const slot = (periods[b.period] ??= { base: '0', paid: '0' })
    slot.base = new D(slot.base).plus(conv.amount).toFixed()
    // re-balance this period and every later one (a carry may have moved)
    let carry = new D(0)
    const fee = new D(rs.adminFee).isZero() ? '' : ` after a ${pct(rs.adminFee)} admin fee`
    for (const p of Object.keys(periods).sort()) {
      const s = periods[p]!
      const net = carry.plus(s.base)
      const pays = net.gt(0) ? applyBands(rs.bands, rs.mode, net).toDecimalPlaces(LEDGER_SCALE) : new D(0)
      const delta = pays.minus(s.paid)
      if (p >= b.period && !delta.isZero()) {
        const own = p === b.period
        const carried = carry.isZero() ? '' : `, ${money(carry.toFixed(), t.currency)} carried in`
        this.write({
          ...b,
          period: p,
          id: `rs:${f.eventId}:${p}`,
          kind: 'revshare',
          status: 'payable',
          originalAmount: own ? ngr.toFixed() : '0',
          originalCurrency: f.currency,
          amount: delta.toFixed(),
          currency: t.currency,
          fxRate: conv.rate,
          fxDate: conv.date,
          estimated: true,
          reason: own
            ? `RevShare ${rateText(rs, net)}: the player's NGR ${money(ngr.toFixed(), f.currency)}${fee}; ${p} NGR ${money(s.base, t.currency)}${carried} pays ${money(pays.toFixed(), t.currency)}`
            : `RevShare ${p} re-balanced: an earlier period's NGR changed what it carries in (${money(carry.toFixed(), t.currency)}); ${p} pays ${money(pays.toFixed(), t.currency)}`,
        })
        if (own && t.cpa?.clawback) this.clawbackRs(f.affiliateId, f.playerKey, f.dealId, delta, b, t)
      }
      s.paid = pays.toFixed()
      carry = rs.carryover ? D.min(0, net) : new D(0)
    }
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
    const less = rebate.isZero() ? '' : ` (${money(rates[f.level]!, t.currency)} less ${money(D.min(rebate, rates[f.level]!).toFixed(), t.currency)} client rebate)`
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
      const conv = this.ref.fx.convert(spread.times(ib.spreadShare), f.currency, t.currency, day)
      const common = { ...b, id: `ib_spread:${f.eventId}`, kind: 'ib' as const, originalAmount: spread.toFixed(), originalCurrency: f.currency, currency: t.currency, estimated: false }
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
    const conv = this.ref.fx.convert(new D(f.amount).times(rate), f.currency, t.currency, dayOf(f.occurredAt))
    const common = { ...b, id: `prop:${f.eventId}`, kind: 'prop' as const, originalAmount: f.amount, originalCurrency: f.currency, currency: t.currency, estimated: false }
    if ('missing' in conv) {
      this.write({ ...common, status: 'held', amount: '0', fxRate: '0', fxDate: '', reason: `challenge fee share held: ${conv.missing}` })
      return
    }
    this.write({
      ...common,
      ...this.held(f, prop.refundWindowDays),
      amount: conv.amount.toFixed(),
      fxRate: conv.rate,
      fxDate: conv.date,
      reason: `${pct(rate)} of the ${f.first ? 'first challenge purchase' : 'challenge reset'} ${money(f.amount, f.currency)}${prop.refundWindowDays > 0 ? `, held ${prop.refundWindowDays} days for refunds` : ''}`,
    })
  }

  /** Take back, with new lines, what is still in its hold: the player's CPA (its money came
   *  back or the player was disqualified) and the lines of the event refunded. */
  reverse(f: Fact<'reversal'>, t: DealTerms) {
    const pb = this.book(f.affiliateId).players[f.playerKey]
    if (!pb) return
    const status = f.why === 'kyc_failed' || f.why === 'self_excluded' || f.why === 'duplicate'
    const hit = (h: HeldLine) => h.payableAt > f.occurredAt && (status || h.kind === 'cpa' || h.causeEventId === f.refEventId)
    const taken = pb.held.filter(hit)
    pb.held = pb.held.filter((h) => !hit(h) && h.payableAt > f.occurredAt)
    const b = this.base(f, t)
    const words: Record<typeof f.why, string> = {
      refund: 'the deposit was refunded',
      chargeback: 'the deposit was charged back',
      challenge_refund: 'the challenge fee was refunded',
      kyc_failed: 'the player failed KYC',
      self_excluded: 'the player self-excluded',
      duplicate: 'the player is a duplicate of another',
    }
    for (const h of taken) {
      // a CPA is taken back at its current price: with the retroactive tiers it reached
      const slot = h.kind === 'cpa' ? this.book(f.affiliateId).cpa[`${h.dealId}|${h.period}`] : undefined
      const paid = slot?.paid.find((x) => x.line === h.id)
      const amount = new D(paid?.price ?? h.amount).negated().toFixed()
      this.write({
        ...b,
        period: h.period,
        dealId: h.dealId,
        dealVersion: h.dealVersion,
        id: `rev:${h.id}`,
        kind: 'reversal',
        status: 'reversed',
        originalAmount: new D(h.originalAmount).negated().toFixed(),
        originalCurrency: h.originalCurrency,
        amount,
        currency: t.currency,
        fxRate: h.fxRate,
        fxDate: h.fxDate,
        refLineId: h.id,
        estimated: false,
        reason: `Reversed ${h.kind} ${money(new D(amount).negated().toFixed(), t.currency)} in its hold: ${words[f.why]} (${dayOf(f.occurredAt)})`,
      })
      if (paid) {
        paid.reversed = true
        if (t.cpa?.clawback) this.absorb(f.affiliateId, f.playerKey, h.dealId, b, t)
      }
    }
  }

  // ---- a clawback deal: the CPA is an advance the player's RevShare pays back first ----

  clawbackRs(affiliateId: number, player: string, dealId: string, delta: D, b: ReturnType<Writer['base']>, t: DealTerms) {
    const c = this.clawback(affiliateId, player, dealId)
    c.rs = new D(c.rs).plus(delta).toFixed()
    this.absorb(affiliateId, player, dealId, b, t)
  }

  clawback(affiliateId: number, player: string, dealId: string) {
    const pb = this.player(affiliateId, player)
    return ((pb.clawback ??= {})[dealId] ??= { rs: '0', absorbed: '0' })
  }

  /** The advance absorbs the player's RevShare up to its size; an offset line moves by what that changed. */
  absorb(affiliateId: number, player: string, dealId: string, b: ReturnType<Writer['base']>, t: DealTerms) {
    const c = this.clawback(affiliateId, player, dealId)
    // the advance is the CPA's current price (a retroactive tier raises it; a reversal ends it)
    const paid = c.slot ? this.book(affiliateId).cpa[c.slot]?.paid.find((p) => p.line === c.line) : undefined
    const advance = paid && !paid.reversed ? paid.price : '0'
    const absorbed = D.max(0, D.min(c.rs, advance))
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
      reason: `CPA advance ${money(advance, t.currency)} offsets the player's RevShare (${money(c.rs, t.currency)} so far): ${money(absorbed.toFixed(), t.currency)} absorbed`,
    })
  }

  // ---- sub-affiliates: the recruiters above earn a share of every line ----

  subShares(l: LedgerLine) {
    let child = l.affiliateId
    const seen = new Set([l.affiliateId])
    for (let tier = 1; tier <= MAX_SUB_DEPTH; tier++) {
      const parent = this.ref.parentOf(child, l.occurredAt)
      // self-referral (the chain coming back to the earner) earns nothing
      if (parent === undefined || seen.has(parent)) return
      seen.add(parent)
      const own = this.ref.ownDeal(parent, l.occurredAt)
      const rate = own?.version.terms.subAffiliate?.tiers[tier - 1]
      child = parent
      if (!own || rate === undefined) continue
      const t = own.version.terms
      const share = new D(l.amount).times(rate)
      const conv = this.ref.fx.convert(share, l.currency, t.currency, dayOf(l.occurredAt))
      if ('missing' in conv) continue
      if (conv.amount.isZero() && !new D(l.amount).isZero()) continue
      if (new D(l.amount).isZero()) continue
      this.write({
        ...l,
        affiliateId: parent,
        playerKey: '',
        playerRef: '',
        period: periodOf(l.occurredAt, t.period),
        dealId: own.deal.id,
        dealVersion: own.version.version,
        id: `sub:${l.id}:${l.affiliateId}:${tier}`,
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
    }
  }
}

/** The CPA price for the n-th paid CPA of the period: the highest tier reached, else the base amount. */
export function priceAt(cpa: NonNullable<DealTerms['cpa']>, n: number): string {
  let price = cpa.amount
  let at = 0
  for (const r of cpa.retroTiers ?? []) if (r.at <= n && r.at > at) [price, at] = [r.amount, r.at]
  return price
}

function toScale(x: string): string {
  return new D(x).toDecimalPlaces(LEDGER_SCALE).toFixed()
}

function same(amount: string, currency: string, day: string) {
  return { originalAmount: amount, originalCurrency: currency, amount, currency, fxRate: '1', fxDate: day }
}

function rateText(rs: NonNullable<DealTerms['revshare']>, net: D): string {
  if (rs.bands.length === 1) return pct(rs.bands[0]!.rate)
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
