/**
 * The flood count's reading of click lines: what it reads is what JSON.parse reads, for the
 * lines ingest writes and for odd ones; what it does not read simply it hands back. And the
 * typed-array count table counts as a Map does, through growth and reuse.
 */
import { describe, expect, it } from 'vitest'
import { scanClick } from './click-scan.js'
import { ClickWindows, CountTable, countMessage, deviceHash, keyHash, addressKey, clickPos, type WindowCounts } from './click-window.js'
import { BROWSER_UA } from '../../../test/helpers/scenario.js'

const enc = new TextEncoder()
const scan = (line: string) => {
  const b = enc.encode(line)
  return scanClick(b, 0, b.length)
}
const ua = (line: string) => {
  const b = enc.encode(line)
  const c = scanClick(b, 0, b.length)
  return c && c.uaStart >= 0 ? new TextDecoder().decode(b.subarray(c.uaStart, c.uaEnd)) : undefined
}

const INGEST = JSON.stringify({
  kind: 'click',
  id: 'abc',
  ts: 1764417600123,
  code: 'x1',
  linkId: 3,
  affiliateId: 42,
  offerId: 7,
  ip: '203.0.113.9',
  ua: BROWSER_UA,
  referer: 'https://example.com/?a={"ip":"1.1.1.1"}',
  sub: { sub1: 'a"b', sub2: '}{' },
  params: { ip: '9.9.9.9', ua: 'params-ua', ts: '1' },
  geo: 'allowed',
  flood: true,
})

describe('reading a click line for the count', () => {
  it('reads the members ingest writes, not the same names inside other members', () => {
    expect(scan(INGEST)).toMatchObject({ ip: '203.0.113.9', ts: 1764417600123, affiliateId: 42 })
    expect(ua(INGEST)).toBe(BROWSER_UA)
  })

  it.each([
    ['spaces and newlines between tokens', '{ "ip" : "1.2.3.4" ,\t"ts" : 5 , "ua":"u" }', { ip: '1.2.3.4', ts: 5 }],
    ['the last of a repeated member wins', '{"ip":"1.1.1.1","ts":1,"ip":"2.2.2.2"}', { ip: '2.2.2.2', ts: 1 }],
    ['a time written as a string is no time', '{"ip":"1.1.1.1","ts":"5"}', { ip: '1.1.1.1', ts: NaN }],
    ['an address written as a number is no address', '{"ip":5,"ts":1}', { ip: undefined, ts: 1 }],
    ['an address that is an object is no address', '{"ip":{"v":"1.1.1.1"},"ts":1}', { ip: undefined, ts: 1 }],
    ['null, true and false are not times', '{"ip":"1.1.1.1","ts":null,"affiliateId":true}', { ts: NaN, affiliateId: NaN }],
    ['numbers with exponents and fractions', '{"ts":1.5e3,"affiliateId":-0.25}', { ts: 1500, affiliateId: -0.25 }],
    ['escapes elsewhere are skipped', '{"referer":"a\\"b\\\\","ip":"1.1.1.1","ts":2}', { ip: '1.1.1.1', ts: 2 }],
    ['nested arrays with brackets in strings', '{"x":[{"y":"]}"},[1,[2]]],"ip":"1.1.1.1","ts":2}', { ip: '1.1.1.1', ts: 2 }],
    ['the empty object', '{}', { ip: undefined, ts: NaN }],
  ])('%s', (_, line, want) => {
    const got = scan(line)
    expect(got).toMatchObject(want)
    // and it agrees with JSON.parse where both read it
    const x = JSON.parse(line) as Record<string, unknown>
    expect(got!.ip).toBe(typeof x.ip === 'string' ? x.ip : undefined)
    expect(got!.ts).toEqual(typeof x.ts === 'number' ? x.ts : NaN)
  })

  it.each([
    ['an escape in the user agent', '{"ip":"1.1.1.1","ua":"a\\"b","ts":1}'],
    ['an escape in the address', '{"ip":"1.1.1.\\u0031","ts":1}'],
    ['not an object', '[1,2]'],
    ['text after the object', '{"ip":"1.1.1.1","ts":1} x'],
    ['an object that does not close', '{"ip":"1.1.1.1","ts":1'],
    ['a string that does not close', '{"ip":"1.1.1.1'],
    ['a bare word', '{"ip":"1.1.1.1","ts":abc}'],
    ['a missing colon', '{"ip" "1.1.1.1"}'],
    ['an escaped member name', '{"i\\u0070":"1.1.1.1"}'],
    ['garbage', 'not json at all'],
  ])('hands back %s (the caller parses it)', (_, line) => expect(scan(line)).toBeUndefined())

  it('a device key from the bytes is the key of the text, for ASCII agents', () => {
    const b = enc.encode(INGEST)
    const c = scanClick(b, 0, b.length)!
    expect(deviceHash(addressKey(c.ip!), b, c.uaStart, c.uaEnd)).toBe(keyHash(`203.0.113.9|${BROWSER_UA}`))
    const none = enc.encode('{"ip":"1.1.1.1","ts":1}')
    const n = scanClick(none, 0, none.length)!
    expect(deviceHash('1.1.1.1', none, n.uaStart, n.uaEnd)).toBe(keyHash('1.1.1.1|'))
  })
})

describe('counting a message of clicks', () => {
  const T0 = Date.UTC(2026, 10, 1, 12, 0, 0)
  const limits = () => ({ ip: 2, device: 1 })

  it('counts scanned and parsed lines under the same keys, skips what is no click and loopback', () => {
    const lines = [
      JSON.stringify({ ip: '5.5.5.5', ua: 'u', ts: T0, affiliateId: 1 }),
      JSON.stringify({ ip: '5.5.5.5', ua: 'u', ts: T0 + 1, affiliateId: 1 }).replace('"u"', '"\\u0075"'), // parsed: the same agent
      'garbage',
      JSON.stringify({ ip: '127.0.0.1', ua: 'u', ts: T0 }),
      JSON.stringify({ ip: '::ffff:5.5.5.5', ua: 'other', ts: T0 + 2, affiliateId: 1 }),
    ]
    const flood: Record<string, WindowCounts> = {}
    const w = new ClickWindows()
    countMessage(w, 9, enc.encode(lines.join('\n') + '\n'), limits, flood)
    // line 1 is the device's second click; line 4 the address's third (its own device's first)
    expect(flood).toEqual({
      [String(clickPos(9, 1))]: { ip: 2, device: 2, minute: T0 },
      [String(clickPos(9, 4))]: { ip: 3, device: 1, minute: T0 },
    })
  })

  it('passes each click its affiliate and time for the limits', () => {
    const asked: [number, number][] = []
    const lines = [JSON.stringify({ ip: '6.6.6.6', ts: T0, affiliateId: 4 }), JSON.stringify({ ip: '6.6.6.6', ts: T0 + 5, affiliateId: 8 })]
    countMessage(new ClickWindows(), 1, enc.encode(lines.join('\n')), (a, ts) => (asked.push([a, ts]), { ip: 0, device: 0 }))
    expect(asked).toEqual([
      [4, T0],
      [8, T0 + 5],
    ])
  })
})

describe('the count table', () => {
  it('counts as a Map does through growth, and empties for reuse', () => {
    const t = new CountTable()
    const m = new Map<number, number>()
    const got: number[] = []
    const want: number[] = []
    let seed = 7
    for (let i = 0; i < 60_000; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      const k = keyHash(String(seed % 20_000))
      const n = (m.get(k) ?? 0) + 1
      m.set(k, n)
      want.push(n)
      got.push(t.bump(k))
    }
    expect(got).toEqual(want)
    expect(t.size).toBe(m.size)
    for (const [k, n] of m) expect(t.get(k)).toBe(n)
    t.clear()
    expect(t.size).toBe(0)
    expect(t.get(keyHash('1'))).toBe(0)
    expect(t.bump(keyHash('1'))).toBe(1)
  })

  it('keys that share their low bits stay apart', () => {
    const t = new CountTable()
    const keys = Array.from({ length: 5000 }, (_, i) => i * 2 ** 32 + 17)
    for (const k of keys) t.bump(k)
    for (const k of keys) expect(t.get(k)).toBe(1)
    expect(t.bump(keys[1234]!)).toBe(2)
  })
})
