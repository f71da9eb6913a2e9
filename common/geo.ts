/**
 * Country from an IP address. geoip-country ships its database inside the package (no
 * runtime download); a lookup is an in-memory binary search, cheap enough for the click
 * path where a link has a geo rule.
 */
import { createRequire } from 'node:module'
import { isIP } from 'node:net'

const require = createRequire(import.meta.url)
const geoip = require('geoip-country') as { lookup: (ip: string) => { country: string } | null }

/** ISO country of an address, '' when unknown (private, reserved, unlisted). */
export function countryOf(ip: string): string {
  if (isIP(ip) === 0) return ''
  return geoip.lookup(ip)?.country ?? ''
}

/** What a link's geo rule does with a visitor: let it through, block it, or send it elsewhere. */
export type GeoDecision = { action: 'pass' } | { action: 'block'; country: string } | { action: 'redirect'; country: string; url: string }

/**
 * The geo rule of a link for a visitor. No rule or no markets: pass, without looking the
 * country up (`country` is called only when the rule applies). A country the lookup does not
 * know (private or unlisted address) counts as outside: a rule is an operator's choice to
 * keep traffic in its markets, so it fails closed.
 */
export function geoDecision(
  rule: { outside: 'block' | 'redirect'; redirectUrl?: string | undefined } | undefined,
  markets: readonly string[],
  country: () => string,
): GeoDecision {
  if (!rule || markets.length === 0) return { action: 'pass' }
  const cc = country()
  if (cc !== '' && markets.includes(cc)) return { action: 'pass' }
  if (rule.outside === 'redirect' && rule.redirectUrl) return { action: 'redirect', country: cc, url: rule.redirectUrl }
  return { action: 'block', country: cc }
}
