/**
 * What a click says about its visitor, worked out by the processor (off the click path):
 * country from the IP (geoip-country ships its database in the package: no runtime
 * download), device type, OS and browser from the user agent (bowser), a bot flag (isbot),
 * and the IP as stored: pseudonymised with a keyed hash (default), truncated (IPv4 /24,
 * IPv6 /48), or in full, per the IP_STORAGE setting.
 *
 * User agents repeat a great deal in real traffic; parses are cached per worker.
 */
import { createHmac } from 'node:crypto'
import { isIP } from 'node:net'
import Bowser from 'bowser'
import { isbot } from 'isbot'
import { countryOf } from '../../common/geo.js'
import { ipv6GroupTexts, unmapped } from '../../common/ipallow.js'

export type IpStorage = 'pseudonymise' | 'truncate' | 'full'
export type Visitor = { country: string; device: string; os: string; browser: string; isBot: boolean }
export type UaFacts = Omit<Visitor, 'country'>

const UA_CACHE_MAX = 20_000
const uaCache = new Map<string, UaFacts>()

export function parseUa(ua: string): UaFacts {
  const hit = uaCache.get(ua)
  if (hit) return hit
  let facts: UaFacts
  if (!ua) facts = { device: '', os: '', browser: '', isBot: false }
  else {
    const p = Bowser.parse(ua)
    const bot = isbot(ua)
    facts = { device: bot ? 'bot' : (p.platform.type ?? ''), os: p.os.name ?? '', browser: p.browser.name ?? '', isBot: bot }
  }
  if (uaCache.size >= UA_CACHE_MAX) uaCache.delete(uaCache.keys().next().value!)
  uaCache.set(ua, facts)
  return facts
}

export function visitor(ip: string, ua: string): Visitor {
  return { country: countryOf(ip), ...parseUa(ua) }
}

/** IPv4 to its /24, IPv6 to its /48 (the rest zeroed); an IPv4-mapped IPv6 as IPv4. */
export function truncateIp(ip: string): string {
  const a = unmapped(ip)
  const v = isIP(a)
  if (v === 4) return a.replace(/\.\d+$/, '.0')
  if (v === 6) {
    return `${ipv6GroupTexts(a)
      .slice(0, 3)
      .map((g) => g.replace(/^0+(?=.)/, '').toLowerCase())
      .join(':')}::`
  }
  return ''
}

export function storedIp(ip: string, mode: IpStorage, key: string): string {
  if (mode === 'full') return ip
  if (mode === 'truncate') return truncateIp(ip)
  return ip ? createHmac('sha256', key).update(`ip:${ip}`).digest('hex').slice(0, 32) : ''
}
