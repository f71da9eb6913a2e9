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

/** A deal's RevShare period in the affiliate stage's books: its start, the NGR in it (deal
 *  currency, before the admin fee), what its lines add up to, the deal version of its latest
 *  fact, and under a high-roller clause each player's NGR in it. */
export type RsPeriod = {
  start: number
  base: string
  paid: string
  version: number
  players?: Record<string, string>
  /** the players who qualified in the period (a deal tiered by qualified FTDs) */
  ftds?: number
}

/** What a period's net (after the admin fee) pays under the terms: bands on the net itself, or
 *  the rate of the band its count of qualified FTDs reached, on all of it. */
export function periodPays(terms: RevShareTerms, slot: Pick<RsPeriod, 'ftds'>, net: D): D {
  if (terms.tierBy === 'qualified_ftds') return net.times(ftdRate(terms, slot))
  return applyBands(terms.bands, terms.mode, net)
}

/** The rate of the band a period's count of qualified FTDs reached. */
export function ftdRate(terms: Pick<RevShareTerms, 'bands'>, slot: Pick<RsPeriod, 'ftds'>): string {
  return terms.bands[bandIndex(terms.bands, new D(slot.ftds ?? 0))]!.rate
}

export type RevshareStep = {
  period: string
  slot: RsPeriod
  terms: RevShareTerms
  carriedIn: Decimal
  /** the period's NGR less what high rollers' later revenue paid back of their own carry */
  base: Decimal
  net: Decimal
  pays: Decimal
  /** high-roller clause: what of this period's NGR went to high rollers' own carry, and what of the negative balance was moved onto it */
  absorbed?: Decimal
  moved?: Decimal
}

/**
 * A deal's RevShare periods in order, each at the terms of its own latest version: the NGR
 * carried in (a negative balance, where the terms carry it), the net, and what the period pays
 * (bands on the net after the admin fee; nothing on a net at or below zero). The affiliate stage
 * pays by it and the running balance shows it.
 *
 * The high-roller clause: when a period's balance is negative, the players whose NGR in it is at
 * or below −threshold take that negative onto carries of their own (capped at the balance's
 * negative, shared pro rata to their NGR, to 12 decimals with the remainder on the last by key);
 * the affiliate's balance carries the rest. A later positive NGR of such a player first pays
 * back the player's own carry before it counts for the affiliate.
 */
export function revshareWalk(periods: Record<string, RsPeriod>, termsOf: (version: number) => RevShareTerms): RevshareStep[] {
  const out: RevshareStep[] = []
  let carry = new D(0)
  /** high rollers' own carries: what their later revenue pays back first (a positive amount) */
  const own = new Map<string, Decimal>()
  for (const [period, slot] of Object.entries(periods).sort(([, x], [, y]) => x.start - y.start)) {
    const terms = termsOf(slot.version)
    let base = new D(slot.base)
    let absorbed: Decimal | undefined
    for (const [p, ngr] of Object.entries(slot.players ?? {})) {
      const owed = own.get(p)
      if (!owed || !new D(ngr).gt(0)) continue
      const back = D.min(owed, ngr)
      own.set(p, owed.minus(back))
      base = base.minus(back)
      absorbed = (absorbed ?? new D(0)).plus(back)
    }
    let net = carry.plus(base)
    let moved: Decimal | undefined
    if (net.lt(0) && terms.highRoller && terms.carryover) {
      const hr = Object.entries(slot.players ?? {})
        .filter(([, ngr]) => new D(ngr).lte(new D(terms.highRoller!.threshold).neg()))
        .sort(([a], [b]) => (a < b ? -1 : 1))
      const hrNeg = hr.reduce((t, [, ngr]) => t.plus(new D(ngr).neg()), new D(0))
      if (hrNeg.gt(0)) {
        moved = D.min(hrNeg, net.neg())
        let left = moved
        hr.forEach(([p, ngr], i) => {
          const part = i === hr.length - 1 ? left : moved!.times(new D(ngr).neg()).div(hrNeg).toDecimalPlaces(LEDGER_SCALE, D.ROUND_DOWN)
          left = left.minus(part)
          own.set(p, (own.get(p) ?? new D(0)).plus(part))
        })
      }
    }
    // the admin fee comes off positive NGR; a negative balance carries whole
    const pays = net.gt(0) ? periodPays(terms, slot, net.times(new D(1).minus(terms.adminFee))).toDecimalPlaces(LEDGER_SCALE) : new D(0)
    out.push({ period, slot, terms, carriedIn: carry, base, net, pays, ...(absorbed ? { absorbed } : {}), ...(moved ? { moved } : {}) })
    if (moved) net = net.plus(moved)
    carry = terms.carryover ? D.min(0, net) : new D(0)
  }
  return out
}
