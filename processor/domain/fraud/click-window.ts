/**
 * Clicks per address and per device in each calendar minute (by the clicks' own time), counted
 * exactly in stream order: the state of the click flood rule.
 *
 * It lives with the processor that owns the clicks (the main thread, before the batch goes to
 * the workers: one pass over every click of the batch in stream order) and holds only the
 * current minute and the one before it. It is deterministic in the stream: the count a click
 * gets depends only on the clicks before it in the stream, so
 *   - a batch computed again (a retried step) gets the same answer: a position already counted
 *     answers what it was given then (floods are kept for the last two minutes);
 *   - after a restart the processor feeds it the clicks of the last minutes up to the position
 *     it had applied (`warm`), and the batch it redoes is counted as it was.
 * An address counts IPv6 by its /64 (one subscriber's), a device is the address and the user
 * agent together (one browser behind a shared address).
 */

import { ipv6GroupTexts, isLoopback } from '../../../common/ipallow.js'
import { scanClick } from './click-scan.js'

export type WindowCounts = { ip: number; device: number; minute: number }

const MINUTE = 60_000

/** Keys are 52-bit hashes of the address and of the device (keyHash), counted in open-addressed
 *  typed-array tables: at a million visitors a minute a Map of number keys spends more on the
 *  garbage collector than on counting. Two visitors share a key only by a 1-in-2^52 chance. */
export class CountTable {
  #keys = new Float64Array(MIN_CAPACITY)
  #counts = new Uint32Array(MIN_CAPACITY)
  #size = 0

  get size(): number {
    return this.#size
  }

  /** One more for key k; its count now. */
  bump(k: number): number {
    for (;;) {
      const counts = this.#counts
      const mask = counts.length - 1
      let i = (k >>> 0) & mask
      for (;;) {
        const c = counts[i]!
        if (c === 0) break
        if (this.#keys[i] === k) return (counts[i] = c + 1)
        i = (i + 1) & mask
      }
      // a new key: grown first when the table would be over 5/8 full
      if ((this.#size + 1) * 8 > counts.length * 5) {
        this.#resize(counts.length * 2)
        continue
      }
      this.#keys[i] = k
      counts[i] = 1
      this.#size++
      return 1
    }
  }

  get(k: number): number {
    const mask = this.#counts.length - 1
    for (let i = (k >>> 0) & mask; this.#counts[i] !== 0; i = (i + 1) & mask) if (this.#keys[i] === k) return this.#counts[i]!
    return 0
  }

  /** Empty it for another minute; a table far larger than its last minute needed gives the
   *  memory back. */
  clear(): void {
    if (this.#size * 16 < this.#counts.length && this.#counts.length > MIN_CAPACITY) {
      this.#keys = new Float64Array(MIN_CAPACITY)
      this.#counts = new Uint32Array(MIN_CAPACITY)
    } else if (this.#size > 0) this.#counts.fill(0)
    this.#size = 0
  }

  #resize(capacity: number): void {
    const keys = this.#keys
    const counts = this.#counts
    this.#keys = new Float64Array(capacity)
    this.#counts = new Uint32Array(capacity)
    const mask = capacity - 1
    for (let j = 0; j < counts.length; j++) {
      if (counts[j] === 0) continue
      const k = keys[j]!
      let i = (k >>> 0) & mask
      while (this.#counts[i] !== 0) i = (i + 1) & mask
      this.#keys[i] = k
      this.#counts[i] = counts[j]!
    }
  }
}
const MIN_CAPACITY = 1 << 12

type Minute = { at: number; ip: CountTable; device: CountTable }
const empty = (at: number): Minute => ({ at, ip: new CountTable(), device: new CountTable() })
/** a minute's tables emptied for another minute */
function reuse(m: Minute, at: number): Minute {
  m.ip.clear()
  m.device.clear()
  m.at = at
  return m
}

export class ClickWindows {
  #cur: Minute = empty(-1)
  #prev: Minute = empty(-2)
  /** the last position counted, and what each recent position got (in position order) */
  #last = -1
  readonly #given = new Map<number, WindowCounts>()

  /** The last position counted (a stream sequence × 2^16 + the line in the message). */
  get last(): number {
    return this.#last
  }

  /**
   * Count one click (its position in the stream, its address key, device key and time): its
   * counts when one is over its limit (a flood), else undefined. Only floods are remembered
   * for a position asked again.
   */
  hit(pos: number, ipKey: number, deviceKey: number, ts: number, limits: { ip: number; device: number }): WindowCounts | undefined {
    if (pos <= this.#last) return this.#given.get(pos)
    this.#last = pos
    const at = Math.floor(ts / MINUTE) * MINUTE
    if (at > this.#cur.at) {
      const old = this.#prev
      if (at === this.#cur.at + MINUTE) this.#prev = this.#cur
      else this.#prev = reuse(this.#cur, at - MINUTE)
      this.#cur = reuse(old, at)
      // what was given before the minute before is no longer asked for
      for (const [p, c] of this.#given) {
        if (c.minute >= this.#prev.at) break
        this.#given.delete(p)
      }
    }
    const m = at === this.#cur.at ? this.#cur : at === this.#prev.at ? this.#prev : undefined
    // a click older than the minute before (a spooled click published late): counted alone
    if (!m) return undefined
    const ip = m.ip.bump(ipKey)
    const device = m.device.bump(deviceKey)
    if (!((limits.ip > 0 && ip > limits.ip) || (limits.device > 0 && device > limits.device))) return undefined
    const counts: WindowCounts = { ip, device, minute: at }
    this.#given.set(pos, counts)
    return counts
  }

  /** Addresses and devices held (for the metrics). */
  get size(): number {
    return this.#cur.ip.size + this.#prev.ip.size + this.#cur.device.size + this.#prev.device.size
  }
}

/** A 52-bit hash of a key (two 32-bit FNV-1a variants), exact as a JS number. */
export function keyHash(s: string): number {
  hashStart(s.length)
  for (let i = 0; i < s.length; i++) hashMix(s.charCodeAt(i))
  return hashEnd()
}

/** The device key: keyHash(`${addressKey}|${ua}`), with the user agent read from its bytes (as
 *  UTF-8: the same as the text's for the ASCII agents browsers send). */
export function deviceHash(address: string, b: Uint8Array, uaStart: number, uaEnd: number): number {
  hashStart(address.length + 1 + (uaEnd - uaStart))
  for (let i = 0; i < address.length; i++) hashMix(address.charCodeAt(i))
  hashMix(124) // |
  for (let i = uaStart; i < uaEnd; i++) hashMix(b[i]!)
  return hashEnd()
}

let ha = 0
let hb = 0
function hashStart(length: number): void {
  ha = 0x811c9dc5
  hb = 0x01000193 ^ length
}
function hashMix(c: number): void {
  ha = Math.imul(ha ^ c, 0x01000193)
  hb = Math.imul(hb ^ c, 0x5bd1e995)
  hb ^= hb >>> 15
}
const hashEnd = () => (ha >>> 0) * 0x100000 + ((hb >>> 0) & 0xfffff)

export type FloodLimits = { ip: number; device: number }

const limitsOf = new WeakMap<object, FloodLimits>()
/** The flood rule's limits in a settings value (one object per value: no allocation a click). */
export function floodLimits(s: { clicksPerIpPerMinute: number; clicksPerDevicePerMinute: number }): FloodLimits {
  let l = limitsOf.get(s)
  if (!l) limitsOf.set(s, (l = { ip: s.clicksPerIpPerMinute, device: s.clicksPerDevicePerMinute }))
  return l
}

/**
 * Count the clicks of one message (its stream sequence and bytes, a click a line) in the
 * windows, each under the limits its affiliate had at its time; the floods into `flood`, by
 * position. A line that is not a click with an address and a time is not counted (the worker
 * dead-letters what is not a click); neither is a loopback address (a test or a health check).
 */
export function countMessage(
  w: ClickWindows,
  seq: number,
  b: Uint8Array,
  limitsOf: (affiliateId: number, ts: number) => FloodLimits,
  flood?: Record<string, WindowCounts>,
): void {
  let idx = 0
  for (let s = 0; s < b.length; ) {
    let e = b.indexOf(10, s)
    if (e < 0) e = b.length
    if (e > s) {
      const at = idx++
      count(w, clickPos(seq, at), b, s, e, limitsOf, flood)
    }
    s = e + 1
  }
}

function count(
  w: ClickWindows,
  pos: number,
  b: Uint8Array,
  s: number,
  e: number,
  limitsOf: (affiliateId: number, ts: number) => FloodLimits,
  flood?: Record<string, WindowCounts>,
): void {
  let ip: string | undefined
  let ts: number
  let affiliateId: number
  let uaStart = -1
  let uaEnd = -1
  /** the agent as text, when the line was parsed */
  let ua: string | undefined
  const c = scanClick(b, s, e)
  if (c) ({ ip, ts, affiliateId, uaStart, uaEnd } = c)
  else {
    // what the scan does not read simply (an escape in the agent, say): parsed
    let x: { ip?: unknown; ua?: unknown; ts?: unknown; affiliateId?: unknown }
    try {
      x = JSON.parse(utf8.decode(b.subarray(s, e))) as typeof x
    } catch {
      return
    }
    if (x === null || typeof x !== 'object') return
    ip = typeof x.ip === 'string' ? x.ip : undefined
    ts = typeof x.ts === 'number' ? x.ts : NaN
    affiliateId = typeof x.affiliateId === 'number' ? x.affiliateId : NaN
    ua = typeof x.ua === 'string' ? x.ua : ''
  }
  if (ip === undefined || Number.isNaN(ts) || isLoopback(ip)) return
  const limits = limitsOf(affiliateId, ts)
  if (limits.ip === 0 && limits.device === 0) return
  const key = addressKey(ip)
  const counts = w.hit(pos, keyHash(key), ua === undefined ? deviceHash(key, b, uaStart, uaEnd) : keyHash(`${key}|${ua}`), ts, limits)
  if (counts && flood) flood[String(pos)] = counts
}
const utf8 = new TextDecoder()

/** A click's position as one number: its message's stream sequence and its line in it. */
export const clickPos = (seq: number, idx: number) => seq * 65_536 + idx

/** The address a click counts under: IPv6 by its /64, IPv4 (also mapped into IPv6) as it is. */
export function addressKey(ip: string): string {
  if (!ip.includes(':')) return ip
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
  if (m) return m[1]!
  return `${ipv6GroupTexts(ip.toLowerCase())
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`
}
