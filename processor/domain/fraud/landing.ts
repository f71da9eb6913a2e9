/**
 * What a click's landing says: a paid-search click id (gclid, fbclid, msclkid) where the deal
 * forbids paid search (brand bidding against the terms), and an IP country outside the declared
 * markets (cloaked traffic). Both flag.
 */
import type { Finding } from '../../../common/fraud/finding.js'

const PAID_SEARCH = ['gclid', 'fbclid', 'msclkid'] as const

export function paidSearch(params: Record<string, string>, forbidden: boolean): Finding | undefined {
  if (!forbidden) return undefined
  const found = PAID_SEARCH.filter((p) => params[p])
  if (found.length === 0) return undefined
  return { reason: 'paid_search', score: 80, action: 'flag', evidence: { clickIds: found.join(', ') } }
}

export function geoMismatch(country: string, markets: readonly string[]): Finding | undefined {
  if (!country || markets.length === 0 || markets.includes(country)) return undefined
  return { reason: 'geo_mismatch', score: 60, action: 'flag', evidence: { country, markets: markets.join(', ') } }
}
