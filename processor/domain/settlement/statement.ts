/**
 * An affiliate's statement for a closed period, from its ledger (pure; the close, the simulator
 * and the tests share it). What a statement takes, of the chain as it stood at the close:
 *
 *   - every line not on an earlier statement, of the closed period or before, that is payable
 *     at the close (common/line-status.ts): a CPA still in its hold, or held for review, waits
 *     for a later statement; a reversal counts where the line it reverses counts, so a refund
 *     of money already paid is netted here, and a refund in the hold cancels the pending CPA
 *     in the statement that would have paid it;
 *   - grouped into statement lines by kind, deal, deal version and currency, each rounded once
 *     to the currency's minor unit (half-even by default). The difference each rounding makes
 *     is returned as an adjustment the close writes to the ledger, so the ledger's lines add up
 *     to the statement to the last decimal;
 *   - the total per currency, with what earlier statements carried forward (below the payment
 *     threshold, or negative): it is paid when it reaches the threshold, else carried again;
 *   - sealed with the chain's head at the close: its number and hash.
 */
import { D, roundMinor, type Rounding } from '../../../common/money.js'
import type { ChainedLine } from '../../../common/ledger.js'
import { statusNow } from '../../../common/line-status.js'

export type StatementLine = {
  kind: string
  dealId: string
  dealVersion: number
  currency: string
  /** the ledger lines it sums, in chain order */
  lineIds: string[]
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
}

export type Statement = {
  affiliateId: number
  period: string
  lines: StatementLine[]
  totals: CurrencyTotal[]
  /** rounding differences for the close to write as ledger lines (statement line, amount) */
  rounding: { line: StatementLine; amount: string }[]
  /** ledger lines left for a later statement (still in their hold, or held) */
  waiting: string[]
  /** the chain's head at the close */
  seal: { no: number; hash: string }
}

export type StatementOptions = {
  period: string
  /** the close's time (ms): a hold ended by then is payable */
  asOf: number
  rounding?: Rounding
  /** the smallest payment per currency (absent: any positive total is paid) */
  threshold?: Record<string, string>
  /** ids of lines already on an earlier statement */
  settled?: ReadonlySet<string>
  /** per currency, what earlier statements carried forward */
  carriedIn?: Record<string, string>
}

/** The statement of `chain` (one affiliate's lines, numbered, in chain order) for a close. */
export function statementOf(affiliateId: number, chain: readonly (ChainedLine & { no: number })[], o: StatementOptions): Statement {
  const byId = new Map(chain.map((l) => [l.id, l]))
  const settled = o.settled ?? new Set<string>()
  const groups = new Map<string, Omit<StatementLine, 'exact' | 'amount'> & { sum: D }>()
  const waiting: string[] = []
  for (const l of chain) {
    if (settled.has(l.id) || l.period > o.period) continue
    if (statusNow(l, l.refLineId ? byId.get(l.refLineId) : undefined, o.asOf) !== 'payable') {
      waiting.push(l.id)
      continue
    }
    const key = JSON.stringify([l.kind, l.dealId, l.dealVersion, l.currency])
    let g = groups.get(key)
    if (!g) {
      g = { kind: l.kind, dealId: l.dealId, dealVersion: l.dealVersion, currency: l.currency, lineIds: [], sum: new D(0) }
      groups.set(key, g)
    }
    g.lineIds.push(l.id)
    g.sum = g.sum.plus(l.amount)
  }
  const lines: StatementLine[] = []
  const rounding: Statement['rounding'] = []
  const perCurrency = new Map<string, D>()
  for (const g of groups.values()) {
    const { sum, ...rest } = g
    const line: StatementLine = { ...rest, exact: sum.toFixed(), amount: roundMinor(sum, g.currency, o.rounding) }
    lines.push(line)
    const diff = new D(line.amount).minus(sum)
    if (!diff.isZero()) rounding.push({ line, amount: diff.toFixed() })
    perCurrency.set(g.currency, (perCurrency.get(g.currency) ?? new D(0)).plus(line.amount))
  }
  for (const c of Object.keys(o.carriedIn ?? {})) if (!perCurrency.has(c)) perCurrency.set(c, new D(0))
  const totals = [...perCurrency]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([currency, sum]): CurrencyTotal => {
      const carriedIn = new D(o.carriedIn?.[currency] ?? 0)
      const total = carriedIn.plus(sum)
      const min = new D(o.threshold?.[currency] ?? 0)
      const paid = total.gt(0) && total.gte(min)
      return {
        currency,
        carriedIn: carriedIn.toFixed(),
        lines: sum.toFixed(),
        total: total.toFixed(),
        payable: paid ? total.toFixed() : '0',
        carriedOut: paid ? '0' : total.toFixed(),
      }
    })
  const head = chain.at(-1)
  return { affiliateId, period: o.period, lines, totals, rounding, waiting, seal: { no: head?.no ?? 0, hash: head?.hash ?? '0'.repeat(64) } }
}
