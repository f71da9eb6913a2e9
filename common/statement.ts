/**
 * An affiliate's statement for a closed period, from its ledger (pure; the close, the simulator
 * and the tests share it). In two steps, so the running system can do the first in SQL at scale
 * (clickhouse/statements.ts, tested against `collect`):
 *
 * `collect` chooses the lines. A close k takes, of the chain as it stood at the close, every
 * line that is
 *   - of a period of the close's kind at or before the closed one,
 *   - payable at the close (common/line-status.ts): a CPA still in its hold, or held for review,
 *     waits; a reversal counts where the line it reverses counts, so a refund of money already
 *     paid is netted here, and a refund in the hold cancels the pending CPA when that comes,
 *   - and was not taken by the affiliate's previous close of that kind (the same test at the
 *     previous close: its period, time and chain length). Status only moves from pending to
 *     payable as time passes, so a line is taken by exactly one close: the first that sees it
 *     payable. No list of settled ids is kept.
 * They are grouped into statement lines by kind, deal, deal version and currency. A rounding
 * line of an earlier close (kind `rounding`) joins the statement line it rounded.
 *
 * `settle` rounds each statement line once to the currency's minor unit (half-even by default);
 * the difference is returned as an adjustment the close writes to the ledger (kind `rounding`),
 * so the ledger's lines add up to the statement to the last decimal. The total per currency
 * adds what the previous statement carried forward (below the payment threshold, or negative):
 * it is paid when it reaches the threshold, else carried again.
 */
import type { ChainedLine } from './ledger.js'
import { statusNow } from './line-status.js'
import { D, minorUnits, roundMinor, type Rounding } from './money.js'
import { periodKindOf } from './periods.js'

/** A close as a statement sees it: which period, and when (a hold ended by then is payable). */
export type CloseMark = { period: string; asOf: number }
/** What a close left in an affiliate's books: its mark, the chain length it sealed, what it carried. */
export type AffiliateClose = CloseMark & { no: number; carry: Record<string, string> }

export type Group = { kind: string; dealId: string; dealVersion: number; currency: string; lines: number; sum: string }
/** What a close takes of one chain: the statement lines before rounding, and what waits. */
export type Collected = {
  groups: Group[]
  /** per currency, the lines of the period or before left for a later statement */
  waiting: Record<string, { pending: string; held: string }>
}

export type StatementLine = {
  kind: string
  dealId: string
  dealVersion: number
  currency: string
  /** how many ledger lines it sums (its rounding line included) */
  lines: number
  /** their sum, full precision */
  exact: string
  /** rounded to the currency's minor unit: what the statement shows and pays */
  amount: string
}

export type CurrencyTotal = {
  currency: string
  /** carried from earlier statements */
  carriedIn: string
  /** the sum of this statement's lines */
  lines: string
  /** carriedIn + lines */
  total: string
  /** paid with this statement (the total when it reaches the threshold and is positive) */
  payable: string
  /** carried to the next statement */
  carriedOut: string
  /** lines of the period or before still in their hold, or held for review: a later statement's */
  pending: string
  held: string
}

export type Statement = {
  affiliateId: number
  period: string
  lines: StatementLine[]
  totals: CurrencyTotal[]
  /** rounding differences for the close to write as ledger lines (statement line, amount) */
  rounding: { line: StatementLine; amount: string }[]
  /** the chain's head at the close, after its rounding lines */
  seal: { no: number; hash: string }
}

export type SettleOptions = {
  period: string
  rounding?: Rounding
  /** the smallest payment per currency (absent: any positive total is paid) */
  threshold?: Record<string, string>
  /** per currency, what the previous statement carried forward */
  carriedIn?: Record<string, string>
}

export type CollectOptions = CloseMark & {
  /** the affiliate's previous close of this kind: what it took is not taken again */
  previous?: Pick<AffiliateClose, 'period' | 'asOf' | 'no'>
}

/** The statement line a line belongs to: its own, or for a rounding line the one it rounded. */
export function groupKey(l: { kind: string; dealId: string; dealVersion: number; currency: string }): string {
  return `${l.kind}:${l.dealId}:${l.dealVersion}:${l.currency}`
}

/** A rounding line's reference: the statement line it rounds (`st:<affiliate>:<period>:<group key>`). */
export function statementLineRef(affiliateId: number, period: string, line: Parameters<typeof groupKey>[0]): string {
  return `st:${affiliateId}:${period}:${groupKey(line)}`
}

const refGroup = (ref: string) => ref.split(':').slice(3)

/** What a close does with one line of the chain: takes it onto a statement line (`group`, its
 *  key as groupKey gives it), or leaves it waiting (in its hold, or held). Lines it neither
 *  takes nor leaves waiting (of a later period, another kind, or taken before) are not listed. */
export type Classified<L> = { line: L; group: Omit<Group, 'lines' | 'sum'>; waiting?: undefined } | { line: L; group?: undefined; waiting: 'pending' | 'held' }

/** The lines a close takes from a chain (numbered, in chain order, as it stood at the close) and those it leaves waiting. */
export function classify<L extends ChainedLine & { no: number }>(chain: readonly L[], o: CollectOptions): Classified<L>[] {
  const kind = periodKindOf(o.period)
  const byId = new Map(chain.map((l) => [l.id, l]))
  const at = (l: L, c: CloseMark & { no?: number }) =>
    (c.no === undefined || l.no <= c.no) &&
    l.period <= c.period &&
    periodKindOf(l.period) === kind &&
    statusNow(l, l.refLineId ? byId.get(l.refLineId) : undefined, c.asOf)
  const out: Classified<L>[] = []
  for (const l of chain) {
    // a payment settles statements; no statement takes it
    if (l.kind === 'payment') continue
    const now = at(l, o)
    if (!now || now === 'rejected' || (o.previous && at(l, o.previous) === 'payable')) continue
    if (now !== 'payable') {
      out.push({ line: l, waiting: now })
      continue
    }
    const [k, dealId, version, currency] = l.kind === 'rounding' && l.refLineId ? refGroup(l.refLineId) : [l.kind, l.dealId, String(l.dealVersion), l.currency]
    out.push({ line: l, group: { kind: k!, dealId: dealId!, dealVersion: Number(version), currency: currency! } })
  }
  return out
}

/** The lines a close takes from a chain, grouped into statement lines, and what waits. */
export function collect(chain: readonly (ChainedLine & { no: number })[], o: CollectOptions): Collected {
  const groups = new Map<string, Group & { total: D }>()
  const waiting = new Map<string, { pending: D; held: D }>()
  for (const c of classify(chain, o)) {
    const l = c.line
    if (c.waiting) {
      const w = waiting.get(l.currency) ?? { pending: new D(0), held: new D(0) }
      w[c.waiting] = w[c.waiting].plus(l.amount)
      waiting.set(l.currency, w)
      continue
    }
    const key = groupKey(c.group)
    let g = groups.get(key)
    if (!g) groups.set(key, (g = { ...c.group, lines: 0, sum: '0', total: new D(0) }))
    g.lines++
    g.total = g.total.plus(l.amount)
  }
  return {
    groups: [...groups.values()].map(({ total, ...g }) => ({ ...g, sum: total.toFixed() })),
    waiting: Object.fromEntries([...waiting].map(([c, w]) => [c, { pending: w.pending.toFixed(), held: w.held.toFixed() }])),
  }
}

/** The statement from what a close took: each line rounded once, the totals with what was
 *  carried in, and the rounding differences to write. The seal is the caller's (after them). */
export function settle(affiliateId: number, c: Collected, o: SettleOptions): Omit<Statement, 'seal'> {
  const lines: StatementLine[] = []
  const rounding: Statement['rounding'] = []
  const perCurrency = new Map<string, D>()
  const order = (a: Group, b: Group) => (groupKey(a) < groupKey(b) ? -1 : groupKey(a) > groupKey(b) ? 1 : 0)
  for (const g of [...c.groups].sort(order)) {
    const amount = roundMinor(g.sum, g.currency, o.rounding)
    const diff = new D(amount).minus(g.sum)
    const line: StatementLine = {
      kind: g.kind,
      dealId: g.dealId,
      dealVersion: g.dealVersion,
      currency: g.currency,
      // the ledger lines taken, and the rounding line the close writes for it
      lines: g.lines + (diff.isZero() ? 0 : 1),
      exact: new D(g.sum).toFixed(),
      amount,
    }
    lines.push(line)
    if (!diff.isZero()) rounding.push({ line, amount: diff.toFixed() })
    perCurrency.set(g.currency, (perCurrency.get(g.currency) ?? new D(0)).plus(line.amount))
  }
  for (const cur of [...Object.keys(o.carriedIn ?? {}), ...Object.keys(c.waiting)]) if (!perCurrency.has(cur)) perCurrency.set(cur, new D(0))
  const totals = [...perCurrency]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([currency, sum]): CurrencyTotal => {
      const carriedIn = new D(o.carriedIn?.[currency] ?? 0)
      const total = carriedIn.plus(sum)
      const min = new D(o.threshold?.[currency] ?? 0)
      const paid = total.gt(0) && total.gte(min)
      const w = c.waiting[currency]
      // to the minor unit: every amount here is a sum of rounded ones
      const dp = minorUnits(currency)
      return {
        currency,
        carriedIn: carriedIn.toFixed(dp),
        lines: sum.toFixed(dp),
        total: total.toFixed(dp),
        payable: (paid ? total : new D(0)).toFixed(dp),
        carriedOut: (paid ? new D(0) : total).toFixed(dp),
        pending: roundMinor(w?.pending ?? '0', currency, o.rounding),
        held: roundMinor(w?.held ?? '0', currency, o.rounding),
      }
    })
  return { affiliateId, period: o.period, lines, totals, rounding }
}

/** What a statement carries to the next: per currency, the amounts not paid (zeros left out). */
export function carryOf(s: Pick<Statement, 'totals'>): Record<string, string> {
  return Object.fromEntries(s.totals.filter((t) => !new D(t.carriedOut).isZero()).map((t) => [t.currency, t.carriedOut]))
}

/** The statement of `chain` for a close, before any rounding line is written: `collect` then
 *  `settle`, sealed with the chain's head (the tests', and a reader's, one call). */
export function statementOf(affiliateId: number, chain: readonly (ChainedLine & { no: number })[], o: CollectOptions & SettleOptions): Statement {
  const head = chain.at(-1)
  return { ...settle(affiliateId, collect(chain, o), o), seal: { no: head?.no ?? 0, hash: head?.hash ?? '0'.repeat(64) } }
}
