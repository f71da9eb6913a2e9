/**
 * The findings about one click, pure: a bot user agent, a click flood from its address or
 * device (the counts come from ClickWindows, in stream order), a datacenter / hosting address,
 * a paid-search click id where the offer forbids paid search, an IP country outside the offer's
 * markets. Bots, floods and hosting addresses are filtered (stored, not counted); the landing's
 * findings flag (counted, shown).
 */
import type { HostingHit } from './hosting.js'
import { scorePast, type Finding, type FraudSettings } from '../../../common/fraud/finding.js'
import type { WindowCounts } from './click-window.js'
import { geoMismatch, paidSearch } from './landing.js'

export type ClickFacts = {
  isBot: boolean
  ua: string
  country: string
  params: Record<string, string>
  /** the link's geo rule already answered the visitor (blocked or sent elsewhere) */
  geoRuled: boolean
  hosting: HostingHit | undefined
  flood: WindowCounts | undefined
  /** ingest's flood guard marked it (its own window and limit, per address, per ingest process) */
  ingestFlood: boolean
}

export type ClickTerms = { markets: readonly string[]; paidSearchForbidden: boolean }

export function clickFindings(
  c: ClickFacts,
  terms: ClickTerms | undefined,
  s: Pick<FraudSettings, 'clicksPerIpPerMinute' | 'clicksPerDevicePerMinute'>,
): Finding[] {
  const out: Finding[] = []
  if (c.isBot) out.push({ reason: 'bot', score: 100, action: 'filter', evidence: { userAgent: c.ua.slice(0, 200) } })
  if (c.flood) {
    const overIp = s.clicksPerIpPerMinute > 0 && c.flood.ip > s.clicksPerIpPerMinute
    const [count, limit, key] = overIp ? [c.flood.ip, s.clicksPerIpPerMinute, 'address'] : [c.flood.device, s.clicksPerDevicePerMinute, 'device']
    out.push({
      reason: 'click_flood',
      score: scorePast(count, limit, limit),
      action: 'filter',
      evidence: { key, clicksThisMinute: count, limitPerMinute: limit, minute: new Date(c.flood.minute).toISOString().slice(0, 16) },
    })
  } else if (c.ingestFlood) out.push({ reason: 'click_flood', score: 75, action: 'filter', evidence: { key: 'address', seenBy: 'ingest' } })
  if (c.hosting) out.push({ reason: 'hosting_ip', score: 90, action: 'filter', evidence: { asn: c.hosting.asn, network: c.hosting.org } })
  const ps = paidSearch(c.params, terms?.paidSearchForbidden ?? false)
  if (ps) out.push(ps)
  if (!c.geoRuled) {
    const geo = geoMismatch(c.country, terms?.markets ?? [])
    if (geo) out.push(geo)
  }
  return out
}
