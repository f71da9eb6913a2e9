/**
 * Money is never a JS number: decimal.js in code, Decimal in ClickHouse, strings on the wire.
 * Every amount carries its currency. Ledger entries keep full precision (LEDGER_SCALE
 * decimals); rounding to the currency's minor unit happens once, at the statement line,
 * half-even by default.
 */
import { Decimal } from 'decimal.js'
import { z } from 'zod'
import { ISO_4217, WITHDRAWN, isCurrency } from './currencies.js'
import { JsonNumber } from './json.js'

export const D = Decimal.clone({ precision: 50, rounding: Decimal.ROUND_HALF_EVEN, toExpNeg: -40, toExpPos: 40 })
export type D = InstanceType<typeof D>

/** Scale of ledger amounts in ClickHouse: Decimal(38, 12). */
export const LEDGER_SCALE = 12

export type Money = { amount: string; currency: string }

/** An ISO 4217 code in any case, upper-cased; a code outside the active list is refused. */
export const CurrencySchema = z
  .string()
  .regex(/^[A-Za-z]{3}$/, 'must be an ISO 4217 code such as EUR or USD')
  .transform((s) => s.toUpperCase())
  .superRefine((c, ctx) => {
    if (isCurrency(c)) return
    const now = WITHDRAWN[c]
    ctx.addIssue({
      code: 'custom',
      message: now ? `${c} was withdrawn from ISO 4217; use ${now}` : `${c} is not an ISO 4217 currency code (such as EUR or USD)`,
    })
  })

const AMOUNT_FORMAT = /^-?\d{1,24}(\.\d{1,12})?$/
const AMOUNT_MESSAGE = 'must be a decimal number with at most 12 decimals, e.g. 100.00'
const SEND_A_STRING = 'send amounts as JSON strings, e.g. "100.00"'

/** A JSON number as a plain decimal, from its text (never through a float). */
function numberText(v: number | JsonNumber): string | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? String(v) : undefined
  const text = v.text
  if (!/[eE]/.test(text)) return text
  const d = new D(text)
  // An exponent that puts the number beyond any amount's digits is not written out.
  return d.isFinite() && Math.abs(d.e) <= 40 ? d.toFixed() : undefined
}

/** A JS number or a number from the lossless JSON parser (common/json.ts). Shown as a number
 *  in the OpenAPI document. */
const NumberInput = z.custom<number | JsonNumber>((v) => typeof v === 'number' || v instanceof JsonNumber, { message: 'must be a decimal number' }).meta({ type: 'number' })

/**
 * A decimal amount as a string, at most LEDGER_SCALE decimals. JSON numbers are taken only
 * when exact: a safe integer, or the text of a number the lossless parser kept. A float
 * (a JS number with a fraction or beyond 2^53) may already have lost digits: refused with a
 * reason that says to send a string, as is a JSON number the format cannot hold exactly.
 */
export const AmountSchema = z
  .union([z.string(), NumberInput])
  .transform((v, ctx) => {
    if (typeof v === 'string') return v.trim()
    const text = numberText(v)
    if (text !== undefined && AMOUNT_FORMAT.test(text)) return text
    ctx.addIssue({
      code: 'custom',
      message:
        typeof v === 'number'
          ? `cannot be taken exactly from the number ${v}: ${SEND_A_STRING}`
          : `cannot be taken exactly from the JSON number ${v.text.length > 40 ? `${v.text.slice(0, 40)}…` : v.text} (at most 24 digits before the point and 12 after): ${SEND_A_STRING}`,
    })
    return z.NEVER
  })
  .pipe(z.string().regex(AMOUNT_FORMAT, AMOUNT_MESSAGE))

/** The same amount however it was written (250, 250.0, 250.00): for comparing, not storing. */
export function canonicalAmount(amount: string): string {
  const d = new D(amount)
  return d.isZero() ? '0' : d.toFixed()
}

export const MoneySchema = z.object({ amount: AmountSchema, currency: CurrencySchema })

/** Minor units per ISO 4217 (common/currencies.ts). A code outside the list (stored before
 *  currencies were checked) rounds to 2 decimals, the most common unit. */
export function minorUnits(currency: string): number {
  return ISO_4217[currency] ?? 2
}

export type Rounding = 'half_even' | 'half_up' | 'down'
const MODES: Record<Rounding, Decimal.Rounding> = {
  half_even: Decimal.ROUND_HALF_EVEN,
  half_up: Decimal.ROUND_HALF_UP,
  down: Decimal.ROUND_DOWN,
}

/** Round to the currency's minor unit; used at the statement line, never inside the ledger. */
export function roundMinor(amount: D | string, currency: string, mode: Rounding = 'half_even'): string {
  return new D(amount).toDecimalPlaces(minorUnits(currency), MODES[mode]).toFixed(minorUnits(currency))
}

/** Canonical ledger representation: fixed LEDGER_SCALE decimals, no exponent. */
export function ledgerAmount(amount: D | string): string {
  const d = new D(amount)
  const fixed = d.toDecimalPlaces(LEDGER_SCALE, Decimal.ROUND_HALF_EVEN)
  if (!fixed.eq(d)) throw new RangeError(`amount ${d.toString()} has more than ${LEDGER_SCALE} decimals`)
  return fixed.toFixed(LEDGER_SCALE)
}

/** Sum amounts grouped by currency: never adds two currencies together. */
export function sumByCurrency(items: Iterable<Money>): Record<string, string> {
  const acc = new Map<string, D>()
  for (const m of items) acc.set(m.currency, (acc.get(m.currency) ?? new D(0)).plus(m.amount))
  return Object.fromEntries([...acc].sort(([a], [b]) => a.localeCompare(b)).map(([c, d]) => [c, d.toFixed()]))
}

export function addAmounts(a: string, b: string): string {
  return new D(a).plus(b).toFixed()
}
