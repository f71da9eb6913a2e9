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

import { ipv6GroupTexts } from '../../../common/ipallow.js'

export type WindowCounts = { ip: number; device: number; minute: number }

const MINUTE = 60_000

/** Keys are 52-bit hashes of the address and of the device (keyHash): a number key costs a
 *  fraction of a string's memory at a million visitors a minute, and two visitors share one
 *  only by a 1-in-2^52 chance. */
type Minute = { at: number; ip: Map<number, number>; device: Map<number, number> }
const empty = (at: number): Minute => ({ at, ip: new Map(), device: new Map() })

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
      this.#prev = at === this.#cur.at + MINUTE ? this.#cur : empty(at - MINUTE)
      this.#cur = empty(at)
      // what was given before the minute before is no longer asked for
      for (const [p, c] of this.#given) {
        if (c.minute >= this.#prev.at) break
        this.#given.delete(p)
      }
    }
    const m = at === this.#cur.at ? this.#cur : at === this.#prev.at ? this.#prev : undefined
    // a click older than the minute before (a spooled click published late): counted alone
    if (!m) return undefined
    const counts: WindowCounts = { ip: bump(m.ip, ipKey), device: bump(m.device, deviceKey), minute: at }
    if (!((limits.ip > 0 && counts.ip > limits.ip) || (limits.device > 0 && counts.device > limits.device))) return undefined
    this.#given.set(pos, counts)
    return counts
  }

  /** Addresses and devices held (for the metrics). */
  get size(): number {
    return this.#cur.ip.size + this.#prev.ip.size + this.#cur.device.size + this.#prev.device.size
  }
}

function bump(m: Map<number, number>, k: number): number {
  const n = (m.get(k) ?? 0) + 1
  m.set(k, n)
  return n
}

/** A 52-bit hash of a key (two 32-bit FNV-1a variants), exact as a JS number. */
export function keyHash(s: string): number {
  let a = 0x811c9dc5
  let b = 0x01000193 ^ s.length
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    a = Math.imul(a ^ c, 0x01000193)
    b = Math.imul(b ^ c, 0x5bd1e995)
    b ^= b >>> 15
  }
  return (a >>> 0) * 0x100000 + ((b >>> 0) & 0xfffff)
}

/** A click's position as one number: its message's stream sequence and its line in it. */
export const clickPos = (seq: number, idx: number) => seq * 65_536 + idx

/** The address a click counts under: IPv6 by its /64, IPv4 (also mapped into IPv6) as it is. */
export function addressKey(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
  if (m) return m[1]!
  if (!ip.includes(':')) return ip
  return `${ipv6GroupTexts(ip.toLowerCase())
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`
}
