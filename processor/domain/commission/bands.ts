/**
 * Tiered and ladder bands, pure (DOMAIN: tiered vs ladder). Bands 25% / 30% / 35% from 0 /
 * 7.5k / 50k on a volume of 60k: tiered applies the reached band's rate to all of it
 * (35% × 60k = 21,000); ladder applies each rate only inside its band (25% × 7.5k + 30% ×
 * 42.5k + 35% × 10k = 18,125). A volume at or below 0 earns its sign at the first band's
 * rate (a negative balance is carried, or floored, by the caller).
 */
import type { Band } from '../../../common/deals.js'
import { D } from '../../../common/money.js'

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
