/**
 * The click flood guard: clicks per client address in a sliding window, in fixed memory.
 *
 * A count-min sketch: two rows of counters indexed by two hashes of the address, the
 * estimate the smaller of the two (collisions only ever overcount, and two rows make a
 * collision on both rare). Two windows rotate: the estimate is the current window's count
 * plus the previous window's, weighted by how much of it still lies inside the sliding
 * window. Memory is 4 tables of `slots` Uint32 counters whatever the number of addresses;
 * a click costs two string hashes and a few array reads, with no allocation and no timer
 * (a window rotates on the first click after it ends).
 *
 * IPv6 addresses count by their /64 (what one subscriber is given: counting single
 * addresses would let one client rotate through 2^64 of them). Loopback is never counted:
 * it is the machine itself (local tools, or a proxy on this host whose X-Forwarded-For is
 * not trusted), where one address stands for every client.
 */

const DEFAULT_SLOTS = 1 << 16

export class FloodGuard {
  readonly #mask: number
  #cur1: Uint32Array
  #cur2: Uint32Array
  #prev1: Uint32Array
  #prev2: Uint32Array
  #windowStart = 0
  /** the /64 of an IPv6 address as 4 groups, reused by every call */
  readonly #groups = new Uint16Array(8)

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    slots = DEFAULT_SLOTS,
  ) {
    if (!Number.isInteger(Math.log2(slots))) throw new RangeError('slots must be a power of two')
    this.#mask = slots - 1
    this.#cur1 = new Uint32Array(slots)
    this.#cur2 = new Uint32Array(slots)
    this.#prev1 = new Uint32Array(slots)
    this.#prev2 = new Uint32Array(slots)
  }

  /** Bytes held by the counters: the same for one address or a billion. */
  get bytes(): number {
    return this.#cur1.byteLength * 4
  }

  /** Count a click from `ip` at `now` (ms); true when it is over the limit. */
  hit(ip: string, now: number): boolean {
    if (isLoopback(ip)) return false
    this.#rotate(now)
    let h1: number
    let h2: number
    if (ip.includes(':') && !ip.includes('.')) {
      const g = this.#groups
      if (!ipv6Groups(ip, g)) {
        h1 = fnv(ip, 0x811c9dc5)
        h2 = fnv(ip, 0x01000193)
      } else {
        h1 = mix(0x811c9dc5, g[0]!, g[1]!, g[2]!, g[3]!)
        h2 = mix(0x9747b28c, g[0]!, g[1]!, g[2]!, g[3]!)
      }
    } else {
      // IPv4, and IPv4 mapped into IPv6 (::ffff:1.2.3.4): the dotted part
      const start = ip.lastIndexOf(':') + 1
      h1 = fnv(ip, 0x811c9dc5, start)
      h2 = fnv(ip, 0x01000193, start)
    }
    const i1 = h1 & this.#mask
    const i2 = h2 & this.#mask
    const c1 = ++this.#cur1[i1]!
    const c2 = ++this.#cur2[i2]!
    const weight = 1 - (now - this.#windowStart) / this.windowMs
    const estimate = Math.min(c1 + this.#prev1[i1]! * weight, c2 + this.#prev2[i2]! * weight)
    return estimate > this.limit
  }

  #rotate(now: number) {
    const elapsed = now - this.#windowStart
    if (elapsed < this.windowMs) return
    if (elapsed < 2 * this.windowMs) {
      // the current window becomes the previous one; the old previous is cleared and reused
      const p1 = this.#prev1
      const p2 = this.#prev2
      this.#prev1 = this.#cur1
      this.#prev2 = this.#cur2
      this.#cur1 = p1.fill(0)
      this.#cur2 = p2.fill(0)
      this.#windowStart += this.windowMs
    } else {
      // idle for more than a window: nothing recent to remember
      this.#prev1.fill(0)
      this.#prev2.fill(0)
      this.#cur1.fill(0)
      this.#cur2.fill(0)
      this.#windowStart = now
    }
  }
}

export function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1' || ip.startsWith('::ffff:127.')
}

/** FNV-1a over the characters of `s` from `start` (a zone id after % is left out). */
function fnv(s: string, seed: number, start = 0): number {
  let h = seed
  for (let i = start; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 37) break // %
    h = Math.imul(h ^ c, 0x01000193)
  }
  return fmix(h)
}

function mix(seed: number, a: number, b: number, c: number, d: number): number {
  let h = seed
  h = Math.imul(h ^ a, 0x01000193)
  h = Math.imul(h ^ b, 0x01000193)
  h = Math.imul(h ^ c, 0x01000193)
  h = Math.imul(h ^ d, 0x01000193)
  return fmix(h)
}

/** murmur3's finaliser: spreads FNV's weak low bits over the whole word. */
function fmix(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/**
 * The eight 16-bit groups of an IPv6 address (with :: expanded) into `out`, without
 * allocating; false for text that is not one. Only the first four (the /64) are used.
 */
export function ipv6Groups(s: string, out: Uint16Array): boolean {
  let n = 0 // groups written
  let gap = -1 // index in out where :: stood
  let v = 0
  let digits = 0
  const end = s.indexOf('%') < 0 ? s.length : s.indexOf('%')
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i)
    if (c === 58) {
      // ':'
      if (i + 1 < end && s.charCodeAt(i + 1) === 58) {
        if (gap >= 0) return false
        if (digits > 0) {
          if (n >= 8) return false
          out[n++] = v
        }
        gap = n
        v = 0
        digits = 0
        i++
        continue
      }
      if (digits === 0) return false
      if (n >= 8) return false
      out[n++] = v
      v = 0
      digits = 0
      continue
    }
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1
    if (d < 0 || ++digits > 4) return false
    v = (v << 4) | d
  }
  if (digits > 0) {
    if (n >= 8) return false
    out[n++] = v
  }
  if (gap < 0) return n === 8
  if (n > 7) return false
  // move the groups after :: to the end, zeros in between
  const after = n - gap
  for (let k = 0; k < after; k++) out[7 - k] = out[n - 1 - k]!
  for (let k = gap; k < 8 - after; k++) out[k] = 0
  return true
}
