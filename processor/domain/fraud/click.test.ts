/**
 * The click rules: the flood windows (exact counts per calendar minute in stream order, the
 * same answer for a position asked again, the same state after a restart that counts the
 * stream again), the hosting ranges from the kept package, and the findings of one click.
 */
import { describe, expect, it } from 'vitest'
import { addressKey, ClickWindows, clickPos, keyHash as h } from './click-window.js'
import { clickFindings, type ClickFacts } from './click.js'
import { DEFAULT_FRAUD_SETTINGS as S } from '../../../common/fraud/finding.js'
import { hostingOf } from './hosting.js'

const T0 = Date.UTC(2026, 10, 1, 12, 0, 0)
const LIMITS = { ip: 3, device: 2 }

describe('clicks per address and device in a minute', () => {
  it('counts exactly, per calendar minute; only the clicks over a limit get counts', () => {
    const w = new ClickWindows()
    const got = [0, 1, 2, 3, 4].map((i) => w.hit(clickPos(1, i), h('1.1.1.1'), h(`1.1.1.1|ua${i % 2}`), T0 + i * 1000, LIMITS))
    // devices ua0: clicks 0, 2, 4 (the third is over 2); address: the fourth and fifth are over 3
    expect(got.map((c) => (c ? [c.ip, c.device] : null))).toEqual([null, null, null, [4, 2], [5, 3]])
    // the next minute starts again
    expect(w.hit(clickPos(2, 0), h('1.1.1.1'), h('1.1.1.1|ua0'), T0 + 60_000, LIMITS)).toBeUndefined()
  })

  it('a click late into the minute before counts there; older ones count alone', () => {
    const w = new ClickWindows()
    for (let i = 0; i < 3; i++) w.hit(clickPos(1, i), h('a'), h(`a|${i}`), T0 + 10_000, LIMITS)
    w.hit(clickPos(2, 0), h('a'), h('a|x'), T0 + 61_000, LIMITS)
    expect(w.hit(clickPos(3, 0), h('a'), h('a|y'), T0 + 59_000, LIMITS)).toMatchObject({ ip: 4, minute: T0 })
    expect(w.hit(clickPos(4, 0), h('a'), h('a|z'), T0 - 120_000, LIMITS)).toBeUndefined()
  })

  it('a position asked again (a retried batch) gets what it got, and counts nothing more', () => {
    const w = new ClickWindows()
    const first = [0, 1, 2, 3].map((i) => w.hit(clickPos(7, i), h('b'), h('b|1'), T0, LIMITS))
    const again = [0, 1, 2, 3].map((i) => w.hit(clickPos(7, i), h('b'), h('b|1'), T0, LIMITS))
    expect(again).toEqual(first)
    expect(w.hit(clickPos(8, 0), h('b'), h('b|1'), T0, LIMITS)).toMatchObject({ ip: 5, device: 5 })
  })

  it('counting the same stream again from the start of the minute before gives the same answers after it (a restart)', () => {
    const stream = Array.from({ length: 400 }, (_, i) => ({
      pos: clickPos(10 + Math.floor(i / 7), i % 7),
      ip: `9.9.9.${i % 5}`,
      ua: `u${i % 3}`,
      ts: T0 + i * 400,
    }))
    const live = new ClickWindows()
    const liveAnswers = stream.map((c) => live.hit(c.pos, h(c.ip), h(`${c.ip}|${c.ua}`), c.ts, LIMITS))
    // killed after click 250: a new process counts the clicks before it from two minutes back, then goes on
    const cut = 250
    const warm = new ClickWindows()
    const from = Math.floor(stream[cut - 1]!.ts / 60_000) * 60_000 - 60_000
    for (const c of stream.slice(0, cut)) if (c.ts >= from) warm.hit(c.pos, h(c.ip), h(`${c.ip}|${c.ua}`), c.ts, LIMITS)
    const after = stream.slice(cut).map((c) => warm.hit(c.pos, h(c.ip), h(`${c.ip}|${c.ua}`), c.ts, LIMITS))
    expect(after).toEqual(liveAnswers.slice(cut))
    expect(after.filter(Boolean).length).toBeGreaterThan(0)
  })

  it('keys hash to distinct exact numbers', () => {
    const keys = Array.from({ length: 100_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)
    const hs = keys.map(h)
    expect(new Set(hs).size).toBe(keys.length)
    expect(hs.every((x) => Number.isSafeInteger(x) && x >= 0)).toBe(true)
  })

  it.each([
    ['1.2.3.4', '1.2.3.4'],
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['2001:db8:aa:bb:1:2:3:4', '2001:db8:aa:bb::/64'],
    ['2001:db8:aa:bb::9', '2001:db8:aa:bb::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
  ])('%s counts under %s', (ip, key) => expect(addressKey(ip)).toBe(key))
})

describe('hosting and datacenter addresses (from @ip-location-db/asn)', () => {
  it.each([
    ['Amazon', '3.5.140.2', 16509],
    ['Google Cloud', '34.120.1.1', 396982],
    ['Hetzner, IPv6', '2a01:4f8::1', 24940],
    ['Hetzner, mapped IPv4', '::ffff:5.9.1.1', 24940],
  ])('%s (%s) is hosting', (_n, ip, asn) => expect(hostingOf(ip)?.asn).toBe(asn))
  it.each([
    ['a British ISP', '81.2.69.160'],
    ['private', '192.168.1.1'],
    ['loopback', '127.0.0.1'],
    ['not an address', 'x'],
  ])('%s is not', (_n, ip) => expect(hostingOf(ip)).toBeUndefined())
})

describe('the findings about one click', () => {
  const human: ClickFacts = {
    isBot: false,
    ua: 'Mozilla/5.0',
    country: 'DE',
    params: {},
    geoRuled: false,
    hosting: undefined,
    flood: undefined,
    ingestFlood: false,
  }
  const terms = { markets: ['DE', 'AT'], paidSearchForbidden: true }
  it.each([
    ['a person in the market: nothing', {}, []],
    ['a bot', { isBot: true }, [['bot', 'filter']]],
    ['a flood from its address', { flood: { ip: 45, device: 3, minute: T0 } }, [['click_flood', 'filter']]],
    ['a flood seen by ingest only', { ingestFlood: true }, [['click_flood', 'filter']]],
    ['a hosting address', { hosting: { asn: 16509, org: 'Amazon.com, Inc.' } }, [['hosting_ip', 'filter']]],
    ['a gclid where paid search is forbidden', { params: { gclid: 'x' } }, [['paid_search', 'flag']]],
    ['outside the markets', { country: 'FR' }, [['geo_mismatch', 'flag']]],
    ['outside the markets, the link already sent it elsewhere', { country: 'FR', geoRuled: true }, []],
    [
      'a bot from a datacenter',
      { isBot: true, hosting: { asn: 1, org: 'x' } },
      [
        ['bot', 'filter'],
        ['hosting_ip', 'filter'],
      ],
    ],
  ] as const)('%s', (_n, facts, want) => {
    const f = clickFindings({ ...human, ...facts }, terms, S)
    expect(f.map((x) => [x.reason, x.action])).toEqual(want)
  })
  it('the flood evidence says which key, how many and the limit', () => {
    const [f] = clickFindings({ ...human, flood: { ip: 5, device: 14, minute: T0 } }, terms, S)
    expect(f!.evidence).toEqual({ key: 'device', clicksThisMinute: 14, limitPerMinute: 10, minute: '2026-11-01T12:00' })
  })
})
