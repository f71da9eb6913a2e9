/**
 * IP allow-lists: addresses and CIDR ranges, IPv4 and IPv6. An IPv4 address seen as
 * IPv4-mapped IPv6 (::ffff:a.b.c.d, what a dual-stack socket reports) matches its IPv4 rule.
 */
import { BlockList, isIP } from 'node:net'
import { z } from 'zod'

/** "a.b.c.d", "a.b.c.d/n", "x::y", "x::y/n"; the error says what is wrong with it. */
export function parseCidr(entry: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | string {
  const [address = '', prefixText, extra] = entry.trim().split('/')
  if (extra !== undefined) return 'has more than one /'
  const v = isIP(address)
  if (v === 0) return 'is not an IP address'
  const max = v === 4 ? 32 : 128
  const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN
  if (!(prefix >= 0 && prefix <= max)) return `has a prefix outside 0-${max}`
  return { address, prefix, family: v === 4 ? 'ipv4' : 'ipv6' }
}

export const CidrSchema = z.string().superRefine((s, ctx) => {
  const r = parseCidr(s)
  if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: `'${s}' ${r}` })
})

export class IpAllowList {
  // One list per family: node's BlockList lets an IPv6 range such as ::/0 admit IPv4 too.
  readonly #v4 = new BlockList()
  readonly #v6 = new BlockList()
  readonly empty: boolean

  constructor(entries: readonly string[]) {
    this.empty = entries.length === 0
    for (const e of entries) {
      const r = parseCidr(e)
      if (typeof r === 'string') throw new Error(`allow-list entry '${e}' ${r}`)
      const list = r.family === 'ipv4' ? this.#v4 : this.#v6
      list.addSubnet(r.address, r.prefix, r.family)
    }
  }

  /** An empty list allows every address. */
  allows(ip: string): boolean {
    if (this.empty) return true
    const addr = unmapped(ip)
    const v = isIP(addr)
    if (v === 0) return false
    return v === 4 ? this.#v4.check(addr, 'ipv4') : this.#v6.check(addr, 'ipv6')
  }
}

const PRIVATE_RANGES = new IpAllowList([
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '224.0.0.0/4',
  '240.0.0.0/4',
  '::/128',
  '::1/128',
  '64:ff9b::/96',
  '64:ff9b:1::/48',
  'fc00::/7',
  'fe80::/10',
  'ff00::/8',
])

/** An IPv4-mapped IPv6 address (::ffff:7f00:1 or ::ffff:127.0.0.1) as its IPv4 address;
 *  any other address as it is. */
export function unmapped(ip: string): string {
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
  if (dotted) return dotted[1]!
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(ip)
  if (hex) {
    const hi = parseInt(hex[1]!, 16)
    const lo = parseInt(hex[2]!, 16)
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`
  }
  return ip
}

/** An address an outbound call must not reach unless allowed: loopback, private, link-local,
 *  carrier-grade NAT, NAT64, multicast, reserved. */
export function isPrivateAddress(ip: string): boolean {
  const a = unmapped(ip.replace(/^\[|\]$/g, ''))
  return isIP(a) === 0 || PRIVATE_RANGES.allows(a)
}

/** The same for a host as written in a URL: names that mean this machine or its network,
 *  and literal addresses. (Names are resolved, and checked again, when the call connects.) */
export function isPrivateHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  if (h === 'localhost' || h.endsWith('.localhost') || h.endsWith('.local') || h.endsWith('.internal')) return true
  return isIP(unmapped(h)) !== 0 && isPrivateAddress(h)
}

/** Loopback: the machine itself (local tools, or a proxy on this host whose X-Forwarded-For is
 *  not trusted), where one address stands for every client: never counted per address. */
export function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1' || ip.startsWith('::ffff:127.')
}

/** The eight groups of an IPv6 address as written, its `::` expanded to zeros. */
export function ipv6GroupTexts(ip: string): string[] {
  const [head = '', tail] = ip.split('::')
  const left = head ? head.split(':') : []
  if (tail === undefined) return left
  const right = tail ? tail.split(':') : []
  return [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
}
