/**
 * Datacenter, hosting and anonymiser addresses: an IP in a network that serves machines, not
 * people (clouds, hosting companies, VPN and proxy providers). A click from one is not counted;
 * a conversion from one is held (DOMAIN: datacenter / proxy / Tor IP).
 *
 * The ranges come from the npm package `@ip-location-db/asn` (IP ranges → autonomous system
 * number and its owner, from RouteViews and the regional registries; kept in node_modules, no
 * download at run time). A range is a hosting range when its AS is in HOSTING_ASNS below (the
 * large clouds, hosting and VPN networks) or its owner's name says hosting (HOSTING_NAME).
 * `npm update @ip-location-db/asn` refreshes the ranges; the README says so.
 *
 * Loaded once per process (processor workers load it as they start): the package's CSV is
 * scanned and only hosting ranges are kept (about 0.5 s), and that table is cached in the
 * system's temporary directory under the package's version and the list's hash, so a restart
 * reads it in milliseconds. A lookup is a binary search.
 */
import { createHash } from 'node:crypto'
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { isIP } from 'node:net'
import { ipv6GroupTexts, isLoopback, unmapped } from '../../../common/ipallow.js'

/** Autonomous systems of clouds, hosting companies and VPN / proxy networks. */
export const HOSTING_ASNS: ReadonlySet<number> = new Set([
  // clouds
  16509,
  14618,
  8987, // Amazon
  15169,
  396982,
  19527, // Google (Cloud)
  8075,
  8068, // Microsoft (Azure)
  31898, // Oracle Cloud
  45102,
  37963, // Alibaba
  132203,
  45090, // Tencent
  55990,
  136907, // Huawei Cloud
  36351, // IBM / SoftLayer
  // hosting
  14061, // DigitalOcean
  16276, // OVH
  24940,
  213230, // Hetzner
  63949, // Linode / Akamai Connected Cloud
  20473, // Vultr (Choopa)
  51167, // Contabo
  12876, // Scaleway
  60781,
  28753,
  16265, // Leaseweb
  46606, // Unified Layer
  26496, // GoDaddy
  36352, // ColoCrossing
  53667, // FranTech (BuyVM)
  8100, // QuadraNet
  29802, // HVC
  202425, // IP Volume
  49981, // WorldStream
  62240, // Clouvider
  197540, // netcup
  // VPN and proxy networks
  9009, // M247
  212238,
  60068, // Datacamp / CDN77
  136787, // TEFINCOM (NordVPN)
  13335, // Cloudflare (WARP, relays)
])

/** An owner's name that says it rents machines. */
export const HOSTING_NAME = /\b(hosting|host|datacenter|data center|data-center|colocation|colo|vps|cloud|server|servers|dedicated)\b/i

export type HostingHit = { asn: number; org: string }

type V4 = { starts: Uint32Array; ends: Uint32Array; hits: HostingHit[] }
type V6 = { starts: bigint[]; ends: bigint[]; hits: HostingHit[] }

let tables: { v4: V4; v6: V6 } | undefined

function packageDir(): string {
  const require = createRequire(import.meta.url)
  return dirname(require.resolve('@ip-location-db/asn/package.json'))
}

/** The hosting rows of one of the package's `*-num.csv` files (start,end,asn,"owner"). */
function hostingRows(file: string): { start: string; end: string; hit: HostingHit }[] {
  const text = readFileSync(join(packageDir(), file), 'utf8')
  const out: { start: string; end: string; hit: HostingHit }[] = []
  const orgs = new Map<string, HostingHit>()
  let at = 0
  while (at < text.length) {
    let nl = text.indexOf('\n', at)
    if (nl < 0) nl = text.length
    const c1 = text.indexOf(',', at)
    const c2 = text.indexOf(',', c1 + 1)
    const c3 = text.indexOf(',', c2 + 1)
    if (c1 > 0 && c3 > 0 && c3 < nl) {
      const asn = Number(text.slice(c2 + 1, c3))
      let org = text.slice(c3 + 1, nl).trim()
      if (HOSTING_ASNS.has(asn) || HOSTING_NAME.test(org)) {
        if (org.startsWith('"')) org = org.slice(1, -1).replaceAll('""', '"')
        const k = `${asn}|${org}`
        let hit = orgs.get(k)
        if (!hit) orgs.set(k, (hit = { asn, org }))
        out.push({ start: text.slice(at, c1), end: text.slice(c1 + 1, c2), hit })
      }
    }
    at = nl + 1
  }
  return out
}

type Cached = { v4: [number, number, number][]; v6: [string, string, number][]; hits: HostingHit[] }

/** Where the filtered table is cached: by the package's version and what the filter is. */
function cacheFile(): string {
  const version = (JSON.parse(readFileSync(join(packageDir(), 'package.json'), 'utf8')) as { version: string }).version
  const filter = createHash('sha256')
    .update([...HOSTING_ASNS].join(','))
    .update(HOSTING_NAME.source)
    .digest('hex')
    .slice(0, 12)
  return join(tmpdir(), `amp-hosting-${version}-${filter}.json`)
}

function fromCache(c: Cached): { v4: V4; v6: V6 } {
  const v4: V4 = { starts: new Uint32Array(c.v4.length), ends: new Uint32Array(c.v4.length), hits: [] }
  c.v4.forEach(([a, b, h], i) => {
    v4.starts[i] = a
    v4.ends[i] = b
    v4.hits.push(c.hits[h]!)
  })
  return { v4, v6: { starts: c.v6.map((r) => BigInt(r[0])), ends: c.v6.map((r) => BigInt(r[1])), hits: c.v6.map((r) => c.hits[r[2]]!) } }
}

function load(): { v4: V4; v6: V6 } {
  if (tables) return tables
  let file: string | undefined
  try {
    file = cacheFile()
    tables = fromCache(JSON.parse(readFileSync(file, 'utf8')) as Cached)
    return tables
  } catch {
    // not cached yet (or unreadable): build it
  }
  const hits: HostingHit[] = []
  const index = new Map<HostingHit, number>()
  const at = (h: HostingHit) => {
    let i = index.get(h)
    if (i === undefined) index.set(h, (i = hits.push(h) - 1))
    return i
  }
  const c: Cached = {
    v4: hostingRows('asn-ipv4-num.csv').map((r) => [Number(r.start), Number(r.end), at(r.hit)]),
    v6: hostingRows('asn-ipv6-num.csv').map((r) => [r.start, r.end, at(r.hit)]),
    hits,
  }
  tables = fromCache(c)
  if (file) {
    try {
      const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`
      writeFileSync(tmp, JSON.stringify(c))
      renameSync(tmp, file)
    } catch {
      // a cache that cannot be written is only slower next time
    }
  }
  return tables
}

/** Load the table now (a worker does as it starts, so no click waits for it). */
export function loadHosting(): void {
  load()
}

/** The last index whose start ≤ x (the rows are sorted by start and do not overlap), or -1. */
function floor<T extends number | bigint>(starts: ArrayLike<T>, x: T): number {
  let lo = 0
  let hi = starts.length - 1
  let found = -1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    if (starts[mid]! <= x) {
      found = mid
      lo = mid + 1
    } else hi = mid - 1
  }
  return found
}

function v4Number(ip: string): number {
  const p = ip.split('.')
  return ((Number(p[0]) << 24) >>> 0) + (Number(p[1]) << 16) + (Number(p[2]) << 8) + Number(p[3])
}

function v6Number(ip: string): bigint {
  let n = 0n
  for (const g of ipv6GroupTexts(ip)) n = (n << 16n) + BigInt(parseInt(g || '0', 16))
  return n
}

/** The hosting network an address is in, or undefined (a person's, or unknown). */
export function hostingOf(ipIn: string): HostingHit | undefined {
  const ip = unmapped(ipIn)
  const v = isIP(ip)
  if (v === 0 || isLoopback(ip)) return undefined
  const t = load()
  if (v === 4) {
    const x = v4Number(ip)
    const i = floor(t.v4.starts, x)
    return i >= 0 && t.v4.ends[i]! >= x ? t.v4.hits[i] : undefined
  }
  if (ip.includes('.')) return undefined // an embedded IPv4 other than the mapped form: not looked up
  const x = v6Number(ip)
  const i = floor(t.v6.starts, x)
  return i >= 0 && t.v6.ends[i]! >= x ? t.v6.hits[i] : undefined
}
