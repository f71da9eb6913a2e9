/**
 * FX rates recorded per date, pure. An amount in another currency is converted to the program
 * currency at the rate recorded for the day the event happened, or the latest day before it
 * (a weekend, a holiday); the rate and its date go on the ledger line, so a rate recorded or
 * changed later changes nothing already accrued.
 */
import { z } from 'zod'
import { AmountSchema, D, StoredCurrencySchema } from './money.js'

export const FxRateSchema = z
  .object({
    date: z
      .string()
      .refine(
        (d) => /^\d{4}-\d{2}-\d{2}$/.test(d) && !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d),
        'must be a calendar day as YYYY-MM-DD',
      ),
    from: StoredCurrencySchema,
    to: StoredCurrencySchema,
    /** 1 `from` = rate `to` */
    rate: AmountSchema.refine((r) => /^\d/.test(r) && new D(r).gt(0), 'must be greater than 0'),
  })
  .strict()
export type FxRate = z.infer<typeof FxRateSchema> & {
  /** when it was recorded (ms): an event sees a rate only if it was recorded before the event
   *  was received, so live, redo and replay convert alike */
  recordedAt?: number
}

export type Converted = { amount: D; rate: string; date: string } | { missing: string }

/** Rates indexed by pair, each pair's days sorted. */
export class FxTable {
  readonly #byPair = new Map<string, { date: string; rate: string; recordedAt?: number }[]>()

  constructor(rates: readonly FxRate[] = []) {
    for (const r of rates) this.add(r)
  }

  add(r: FxRate) {
    const k = `${r.from}>${r.to}`
    const list = this.#byPair.get(k) ?? []
    const at = list.findIndex((x) => x.date >= r.date)
    const x = { date: r.date, rate: r.rate, ...(r.recordedAt !== undefined ? { recordedAt: r.recordedAt } : {}) }
    if (at >= 0 && list[at]!.date === r.date) list[at] = x
    else if (at >= 0) list.splice(at, 0, x)
    else list.push(x)
    this.#byPair.set(k, list)
  }

  /** The rate in force on `day`: the latest for a day on or before it, among the rates recorded by `asOf` (when given). */
  rateOn(from: string, to: string, day: string, asOf?: number): { rate: string; date: string } | undefined {
    if (from === to) return { rate: '1', date: day }
    const list = this.#byPair.get(`${from}>${to}`)
    if (!list) return undefined
    let found: { rate: string; date: string } | undefined
    for (const x of list) {
      if (x.date > day) break
      if (asOf === undefined || x.recordedAt === undefined || x.recordedAt <= asOf) found = { rate: x.rate, date: x.date }
    }
    return found
  }

  convert(amount: D, from: string, to: string, day: string, asOf?: number): Converted {
    const r = this.rateOn(from, to, day, asOf)
    if (!r) return { missing: `no ${from}→${to} rate recorded on or before ${day}` }
    return { amount: amount.times(r.rate), rate: r.rate, date: r.date }
  }
}
