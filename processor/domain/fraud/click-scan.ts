/**
 * The fields of a click line the flood count reads (address, user agent, time, affiliate), read
 * from the message's bytes without building the click: the processor's main thread counts every
 * click in stream order before the workers parse them, and a full JSON.parse there cost more than
 * the count itself.
 *
 * It walks the line's top-level object as JSON does (strings with their escapes, nested objects
 * and arrays skipped whole) and reads only those four members; the last of a repeated member wins,
 * as in JSON.parse. A line it cannot read so simply (not an object, an escape inside the address or
 * the user agent, anything after the object) is answered `undefined`, and the caller parses it.
 */

export type ScannedClick = {
  /** the address as written (undefined: missing or not a string) */
  ip: string | undefined
  /** the user agent's bytes, [uaStart, uaEnd) of the buffer (-1: missing or not a string) */
  uaStart: number
  uaEnd: number
  /** NaN when missing or not a number */
  ts: number
  affiliateId: number
}

const QUOTE = 34
const BACKSLASH = 92
const OPEN = 123
const CLOSE = 125
const OPEN_ARRAY = 91
const CLOSE_ARRAY = 93
const COLON = 58
const COMMA = 44

const isSpace = (c: number | undefined) => c === 32 || c === 10 || c === 13 || c === 9

// member names, as bytes
const KEY_IP = 1
const KEY_UA = 2
const KEY_TS = 3
const KEY_AFFILIATE = 4
const AFFILIATE = [...'affiliateId'].map((c) => c.charCodeAt(0))

function keyOf(b: Uint8Array, s: number, e: number): number {
  const n = e - s
  if (n === 2) {
    const x = b[s]!
    const y = b[s + 1]!
    if (x === 105 && y === 112) return KEY_IP // ip
    if (x === 117 && y === 97) return KEY_UA // ua
    if (x === 116 && y === 115) return KEY_TS // ts
    return 0
  }
  if (n !== AFFILIATE.length) return 0
  for (let i = 0; i < n; i++) if (b[s + i] !== AFFILIATE[i]) return 0
  return KEY_AFFILIATE
}

/** The end of the string whose opening quote is at s (the index of its closing quote), with
 *  whether it holds an escape; -1 when it does not end. */
let escaped = false
function stringEnd(b: Uint8Array, s: number, e: number): number {
  escaped = false
  for (let i = s + 1; i < e; i++) {
    const c = b[i]
    if (c === QUOTE) return i
    if (c === BACKSLASH) {
      escaped = true
      i++
    }
  }
  return -1
}

/** The index just after the object or array opening at s; -1 when it does not close. */
function nestedEnd(b: Uint8Array, s: number, e: number): number {
  let depth = 0
  for (let i = s; i < e; i++) {
    const c = b[i]
    if (c === QUOTE) {
      i = stringEnd(b, i, e)
      if (i < 0) return -1
    } else if (c === OPEN || c === OPEN_ARRAY) depth++
    else if (c === CLOSE || c === CLOSE_ARRAY) {
      if (--depth === 0) return i + 1
    }
  }
  return -1
}

const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/
function latin1(b: Uint8Array, s: number, e: number): string {
  let t = ''
  for (let i = s; i < e; i++) t += String.fromCharCode(b[i]!)
  return t
}

/** The click line in b[s, e): its members the count reads, or undefined (read it with JSON.parse). */
export function scanClick(b: Uint8Array, s: number, e: number): ScannedClick | undefined {
  const out: ScannedClick = { ip: undefined, uaStart: -1, uaEnd: -1, ts: NaN, affiliateId: NaN }
  let i = s
  while (isSpace(b[i]) && i < e) i++
  if (b[i] !== OPEN) return undefined
  i++
  while (isSpace(b[i]) && i < e) i++
  if (b[i] === CLOSE) i++
  else
    for (;;) {
      if (b[i] !== QUOTE) return undefined
      const ke = stringEnd(b, i, e)
      if (ke < 0 || escaped) return undefined
      const key = keyOf(b, i + 1, ke)
      i = ke + 1
      while (isSpace(b[i]) && i < e) i++
      if (b[i] !== COLON) return undefined
      i++
      while (isSpace(b[i]) && i < e) i++
      const c = b[i]
      if (c === QUOTE) {
        const ve = stringEnd(b, i, e)
        if (ve < 0) return undefined
        if (key === KEY_IP || key === KEY_UA) {
          if (escaped) return undefined
          if (key === KEY_IP) out.ip = latin1(b, i + 1, ve)
          else [out.uaStart, out.uaEnd] = [i + 1, ve]
        } else if (key === KEY_TS) out.ts = NaN
        else if (key === KEY_AFFILIATE) out.affiliateId = NaN
        i = ve + 1
      } else if (c === OPEN || c === OPEN_ARRAY) {
        i = nestedEnd(b, i, e)
        if (i < 0) return undefined
        if (key === KEY_IP) out.ip = undefined
        else if (key === KEY_UA) out.uaStart = out.uaEnd = -1
        else if (key === KEY_TS) out.ts = NaN
        else if (key === KEY_AFFILIATE) out.affiliateId = NaN
      } else {
        const vs = i
        while (i < e && b[i] !== COMMA && b[i] !== CLOSE && !isSpace(b[i])) i++
        if (i === vs) return undefined
        if (key === KEY_IP) out.ip = undefined
        else if (key === KEY_UA) out.uaStart = out.uaEnd = -1
        else if (key === KEY_TS || key === KEY_AFFILIATE) {
          const text = latin1(b, vs, i)
          // a number as JSON writes it; true, false and null are not numbers
          const n = NUMBER.test(text) ? Number(text) : text === 'true' || text === 'false' || text === 'null' ? NaN : undefined
          if (n === undefined) return undefined
          if (key === KEY_TS) out.ts = n
          else out.affiliateId = n
        }
      }
      while (isSpace(b[i]) && i < e) i++
      if (b[i] === COMMA) {
        i++
        while (isSpace(b[i]) && i < e) i++
        continue
      }
      if (b[i] !== CLOSE) return undefined
      i++
      break
    }
  while (i < e && isSpace(b[i])) i++
  return i === e ? out : undefined
}
