/**
 * RevShare, pure: bands, and a deal's periods walked with their carry.
 *
 * Tiered and ladder bands (DOMAIN: tiered vs ladder). Bands 25% / 30% / 35% from 0 /
 * 7.5k / 50k on a volume of 60k: tiered applies the reached band's rate to all of it
 * (35% × 60k = 21,000); ladder applies each rate only inside its band (25% × 7.5k + 30% ×
 * 42.5k + 35% × 10k = 18,125). A volume at or below 0 earns its sign at the first band's
 * rate (a negative balance is carried, or floored, by the caller).
 */
import type { Decimal } from 'decimal.js'
import type { Band, RevShareTerms } from './deals.js'
import { D, LEDGER_SCALE } from './money.js'

/** The band a volume has reached: the last whose `from` ≤ volume (exactly at a threshold is in it). */
export function bandIndex(bands: readonly Band[], volume: D): number {
  let i = 0
  for (let k = 1; k < bands.length; k++) if (volume.gte(bands[k]!.from)) i = k
  return i
}

export function applyBands(bands: readonly Band[], mode: 'tiered' | 'ladder', volume: D): D {
  if (volume.lte(0)) return volume.times(bands[0]!.rate)
  if (mode === 'tiered') return volume.times(bands[bandIndex(bands, volume)]!.rate)
  let total = new D(0)
  for (let k = 0; k < bands.length; k++) {
    const lo = new D(bands[k]!.from)
    if (volume.lte(lo)) break
    const hi = k + 1 < bands.length ? D.min(volume, bands[k + 1]!.from) : volume
    total = total.plus(hi.minus(lo).times(bands[k]!.rate))
  }
  return total
}

/** A deal's RevShare period in the affiliate stage's books: its start, the NGR in it (deal currency, before the admin fee), what its lines add up to, and the deal version of its latest fact. */
export type RsPeriod = { start: number; base: string; paid: string; version: number }

export type RevshareStep = { period: string; slot: RsPeriod; terms: RevShareTerms; carriedIn: Decimal; net: Decimal; pays: Decimal }

/** A deal's RevShare periods in order, each at the terms of its own latest version: the NGR
 *  carried in (a negative balance, where the terms carry it), the net, and what the period
 *  pays (bands on the net after the admin fee; nothing on a net at or below zero). The
 *  affiliate stage pays by it and the running balance shows it. */
export function revshareWalk(periods: Record<string, RsPeriod>, termsOf: (version: number) => RevShareTerms): RevshareStep[] {
  const out: RevshareStep[] = []
  let carry = new D(0)
  for (const [period, slot] of Object.entries(periods).sort(([, x], [, y]) => x.start - y.start)) {
    const terms = termsOf(slot.version)
    const net = carry.plus(slot.base)
    // the admin fee comes off positive NGR; a negative balance carries whole
    const pays = net.gt(0) ? applyBands(terms.bands, terms.mode, net.times(new D(1).minus(terms.adminFee))).toDecimalPlaces(LEDGER_SCALE) : new D(0)
    out.push({ period, slot, terms, carriedIn: carry, net, pays })
    carry = terms.carryover ? D.min(0, net) : new D(0)
  }
  return out
}

