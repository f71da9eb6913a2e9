/**
 * The click flood guard: clicks per client address in a sliding window, in fixed memory.
 *
 * A count-min sketch: two rows of counters indexed by two hashes of the address, the
 * estimate the smaller of the two (collisions only ever overcount, and two rows make a
 * collision on both rare). Two windows rotate: the estimate is the current window's count
 * plus the previous window's, weighted by how much of it still lies inside the sliding
 * window. Memory is 2 rows × `slots` × 2 windows of Uint32 counters (1 MiB) whatever the
 * number of addresses; a click costs one string hash and two cache lines, with no
 * allocation and no timer (a window rotates on the first click after it ends).
 *
 * IPv6 addresses count by their /64 (what one subscriber is given: counting single
 * addresses would let one client rotate through 2^64 of them). Loopback is never counted:
 * it is the machine itself (local tools, or a proxy on this host whose X-Forwarded-For is
 * not trusted), where one address stands for every client.
 */

import { isLoopback } from '../common/ipallow.js'

const DEFAULT_SLOTS = 1 << 16

export class FloodGuard {
  readonly #mask: number
  readonly #shift: number
  /** per row, slot i holds [current window's count, previous window's] side by side: one
   *  cache line per row and click */
  readonly #row1: Uint32Array
  readonly #row2: Uint32Array
  #windowStart = 0
  /** the /64 of an IPv6 address as 4 groups, reused by every call */
  readonly #groups = new Uint16Array(8)

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    slots = DEFAULT_SLOTS,
  ) {
    const bits = Math.log2(slots)
    if (!Number.isInteger(bits) || bits > 16) throw new RangeError('slots must be a power of two up to 65536')
    this.#mask = slots - 1
    this.#shift = 32 - bits
    this.#row1 = new Uint32Array(slots * 2)
    this.#row2 = new Uint32Array(slots * 2)
  }

  /** Bytes held by the counters: the same for one address or a billion. */
  get bytes(): number {
    return this.#row1.byteLength + this.#row2.byteLength
  }

  /** Count a click from `ip` at `now` (ms); true when it is over the limit. */
  hit(ip: string, now: number): boolean {
    if (isLoopback(ip)) return false
    this.#rotate(now)
    let h: number
    if (ip.includes(':') && !ip.includes('.')) {
      const g = this.#groups
      h = ipv6Groups(ip, g) ? mix(g[0]!, g[1]!, g[2]!, g[3]!) : fnv(ip, 0)
    } else {
      // IPv4, and IPv4 mapped into IPv6 (::ffff:1.2.3.4): the dotted part
      h = fnv(ip, ip.lastIndexOf(':') + 1)
    }
    // The two rows take the low and the high bits of one well-mixed hash: two addresses
    // share both counters only when their whole 32-bit hashes are equal.
    const i1 = (h & this.#mask) << 1
    const i2 = (h >>> this.#shift) << 1
    const r1 = this.#row1
    const r2 = this.#row2
    const c1 = ++r1[i1]!
    const c2 = ++r2[i2]!
    const weight = 1 - (now - this.#windowStart) / this.windowMs
    return Math.min(c1 + r1[i1 + 1]! * weight, c2 + r2[i2 + 1]! * weight) > this.limit
  }

  #rotate(now: number) {
    const elapsed = now - this.#windowStart
    if (elapsed < this.windowMs) return
    // Once a window: the current counts become the previous ones (or, after a whole idle
    // window, nothing is remembered).
    const keep = elapsed < 2 * this.windowMs
    for (const r of [this.#row1, this.#row2]) {
      for (let i = 0; i < r.length; i += 2) {
        r[i + 1] = keep ? r[i]! : 0
        r[i] = 0
      }
    }
    this.#windowStart = keep ? this.#windowStart + this.windowMs : now
  }
}

export { isLoopback } from '../common/ipallow.js'

/** FNV-1a over the characters of `s` from `start` (a zone id after % is left out). */
function fnv(s: string, start: number): number {
  let h = 0x811c9dc5
  for (let i = start; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 37) break // %
    h = Math.imul(h ^ c, 0x01000193)
  }
  return fmix(h)
}

function mix(a: number, b: number, c: number, d: number): number {
  let h = 0x811c9dc5
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
