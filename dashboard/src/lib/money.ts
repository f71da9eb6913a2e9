/**
 * Display-side money: amounts arrive as decimal strings and are added as scaled BigInts
 * (12 decimals, the ledger's scale), never as floats; shown rounded half-even to the
 * currency's minor unit.
 */
const SCALE = 12
const F = 10n ** BigInt(SCALE)
const MINOR: Record<string, number> = { JPY: 0, KRW: 0, ISK: 0, CLP: 0, VND: 0, BHD: 3, KWD: 3, JOD: 3, OMR: 3, TND: 3 }

export function toUnits(s: string): bigint {
  const neg = s.startsWith('-')
  const [i, f = ''] = (neg ? s.slice(1) : s).split('.')
  const v = BigInt(i || '0') * F + BigInt((f + '0'.repeat(SCALE)).slice(0, SCALE) || '0')
  return neg ? -v : v
}

export function fromUnits(v: bigint): string {
  const neg = v < 0n
  const a = neg ? -v : v
  const f = (a % F).toString().padStart(SCALE, '0').replace(/0+$/, '')
  return `${neg ? '-' : ''}${a / F}${f ? '.' + f : ''}`
}

export function addMoney(into: Record<string, string>, add: Record<string, string>) {
  for (const [c, a] of Object.entries(add)) into[c] = fromUnits(toUnits(into[c] ?? '0') + toUnits(a))
}

/** Half-even rounding of a decimal string to `digits` decimals, as a decimal string. */
export function roundHalfEven(amount: string, digits: number): string {
  const v = toUnits(amount)
  const step = 10n ** BigInt(SCALE - digits)
  const neg = v < 0n
  const a = neg ? -v : v
  let q = a / step
  const r = a % step
  if (r * 2n > step || (r * 2n === step && q % 2n === 1n)) q += 1n
  const s = q.toString().padStart(digits + 1, '0')
  const out = digits ? `${s.slice(0, -digits)}.${s.slice(-digits)}` : s
  return neg && q !== 0n ? `-${out}` : out
}

export function formatMoney(amount: string, currency: string): string {
  const digits = MINOR[currency] ?? 2
  const fmt = new Intl.NumberFormat(undefined, { style: 'currency', currency, minimumFractionDigits: digits, maximumFractionDigits: digits })
  // Intl formats decimal strings exactly (no float conversion) in current engines.
  return fmt.format(roundHalfEven(amount, digits) as unknown as number)
}
