/**
 * FX rates recorded per date, pure. An amount in another currency is converted to the program
 * currency at the rate recorded for the day the event happened, or the latest day before it
 * (a weekend, a holiday); the rate and its date go on the ledger line, so a rate recorded or
 * changed later changes nothing already accrued.
 */
import { z } from 'zod'
import { AmountSchema, D, StoredCurrencySchema } from '../../../common/money.js'

export const FxRateSchema = z
  .object({
    date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a day as YYYY-MM-DD'),
    from: StoredCurrencySchema,
    to: StoredCurrencySchema,
    /** 1 `from` = rate `to` */
    rate: AmountSchema.refine((r) => Number(r) > 0, 'must be greater than 0'),
  })
  .strict()
export type FxRate = z.infer<typeof FxRateSchema>

export type Converted = { amount: D; rate: string; date: string } | { missing: string }

/** Rates indexed by pair, each pair's days sorted. */
export class FxTable {
  readonly #byPair = new Map<string, { date: string; rate: string }[]>()

  constructor(rates: readonly FxRate[] = []) {
    for (const r of rates) this.add(r)
  }

  add(r: FxRate) {
    const k = `${r.from}>${r.to}`
    const list = this.#byPair.get(k) ?? []
    const at = list.findIndex((x) => x.date >= r.date)
    if (at >= 0 && list[at]!.date === r.date) list[at] = { date: r.date, rate: r.rate }
    else if (at >= 0) list.splice(at, 0, { date: r.date, rate: r.rate })
    else list.push({ date: r.date, rate: r.rate })
    this.#byPair.set(k, list)
  }

  /** The rate in force on `day`: the latest recorded on or before it. */
  rateOn(from: string, to: string, day: string): { rate: string; date: string } | undefined {
    if (from === to) return { rate: '1', date: day }
    const list = this.#byPair.get(`${from}>${to}`)
    if (!list) return undefined
    let found: { rate: string; date: string } | undefined
    for (const x of list) {
      if (x.date > day) break
      found = x
    }
    return found
  }

  convert(amount: D, from: string, to: string, day: string): Converted {
    const r = this.rateOn(from, to, day)
    if (!r) return { missing: `no ${from}→${to} rate recorded on or before ${day}` }
    return { amount: amount.times(r.rate), rate: r.rate, date: r.date }
  }
}
