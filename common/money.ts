/**
 * Money is never a JS number: decimal.js in code, Decimal in ClickHouse, strings on the wire.
 * Every amount carries its currency. Ledger entries keep full precision (LEDGER_SCALE
 * decimals); rounding to the currency's minor unit happens once, at the statement line,
 * half-even by default.
 */
import { Decimal } from 'decimal.js'
import { z } from 'zod'

export const D = Decimal.clone({ precision: 50, rounding: Decimal.ROUND_HALF_EVEN, toExpNeg: -40, toExpPos: 40 })
export type D = InstanceType<typeof D>

/** Scale of ledger amounts in ClickHouse: Decimal(38, 12). */
export const LEDGER_SCALE = 12

export type Money = { amount: string; currency: string }

export const CurrencySchema = z
  .string()
  .regex(/^[A-Za-z]{3}$/, 'must be an ISO 4217 code such as EUR or USD')
  .transform((s) => s.toUpperCase())

/** A decimal amount as a string (or number, from JSON), at most LEDGER_SCALE decimals. */
export const AmountSchema = z
  .union([z.string(), z.number().finite()])
  // A JSON number such as 1e-7 prints with an exponent; decimal.js writes it out in full.
  .transform((v) => (typeof v === 'number' ? new D(v).toFixed() : v.trim()))
  .pipe(z.string().regex(/^-?\d{1,24}(\.\d{1,12})?$/, 'must be a decimal number with at most 12 decimals, e.g. 100.00'))

export const MoneySchema = z.object({ amount: AmountSchema, currency: CurrencySchema })

/** Minor units per ISO 4217 for the currencies that differ from 2. */
const MINOR_UNITS: Record<string, number> = {
  BHD: 3,
  IQD: 3,
  JOD: 3,
  KWD: 3,
  LYD: 3,
  OMR: 3,
  TND: 3,
  BIF: 0,
  CLP: 0,
  DJF: 0,
  GNF: 0,
  ISK: 0,
  JPY: 0,
  KMF: 0,
  KRW: 0,
  PYG: 0,
  RWF: 0,
  UGX: 0,
  UYI: 0,
  VND: 0,
  VUV: 0,
  XAF: 0,
  XOF: 0,
  XPF: 0,
}

export function minorUnits(currency: string): number {
  return MINOR_UNITS[currency] ?? 2
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
