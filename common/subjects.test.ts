import { describe, expect, it } from 'vitest'
import { dlqSubject, eventSubject, fnv1a, parseEventSubject, partitionOf } from './subjects.js'

describe('fnv1a', () => {
  // Published FNV-1a 32-bit test vectors (ASCII input).
  it.each<[string, number]>([
    ['', 0x811c9dc5],
    ['a', 0xe40c292c],
    ['foobar', 0xbf9cf968],
  ])('fnv1a(%j) = %i', (key, want) => {
    expect(fnv1a(key)).toBe(want)
  })

  it('is an unsigned 32-bit integer', () => {
    for (const k of ['x', 'p:player-1', 'c:' + 'z'.repeat(200), 'ünïcödé']) {
      const h = fnv1a(k)
      expect(Number.isInteger(h)).toBe(true)
      expect(h).toBeGreaterThanOrEqual(0)
      expect(h).toBeLessThan(2 ** 32)
    }
  })
})

describe('partitionOf', () => {
  // Pinned: the mapping must never change once a stream exists (it would move keys between partitions).
  it.each<[string, number, number]>([
    ['p:alice', 16, 9],
    ['c:x', 16, 0],
    ['hello', 16, 11],
    ['p:player-1', 16, 8],
    ['a', 16, 0xe40c292c % 16],
    ['foobar', 7, 0xbf9cf968 % 7],
    ['anything', 1, 0],
  ])('partitionOf(%j, %i) = %i', (key, n, want) => {
    expect(partitionOf(key, n)).toBe(want)
  })

  it('is deterministic', () => {
    for (let i = 0; i < 100; i++) expect(partitionOf(`p:${i}`, 16)).toBe(partitionOf(`p:${i}`, 16))
  })

  it.each([1, 2, 3, 16, 17, 64, 1024])('is always in [0, %i) for many keys', (n) => {
    for (let i = 0; i < 5_000; i++) {
      const p = partitionOf(`p:player-${i}`, n)
      expect(Number.isInteger(p) && p >= 0 && p < n).toBe(true)
    }
  })

  it.each<[string, (i: number) => string]>([
    ['player keys', (i) => `p:player-${i}`],
    ['numeric player keys', (i) => `p:${i}`],
    ['click-id keys', (i) => `c:${((i * 2654435761) >>> 0).toString(36)}${i}`],
  ])('is roughly balanced over 16 partitions for 10k %s (each within ±30%% of the mean)', (_name, key) => {
    const counts = new Array<number>(16).fill(0)
    for (let i = 0; i < 10_000; i++) counts[partitionOf(key(i), 16)]!++
    const mean = 10_000 / 16
    for (const c of counts) {
      expect(c).toBeGreaterThanOrEqual(mean * 0.7)
      expect(c).toBeLessThanOrEqual(mean * 1.3)
    }
    expect(counts.reduce((a, b) => a + b, 0)).toBe(10_000)
  })
})

describe('event subjects', () => {
  it.each<[number, string]>([
    [0, 'click'],
    [15, 'registration'],
    [3, 'ftd'],
    [1023, 'player_activity'],
  ])('roundtrips partition %i kind %s', (partition, kind) => {
    const s = eventSubject(partition, kind)
    expect(s).toBe(`ev.${partition}.${kind}`)
    expect(parseEventSubject(s)).toEqual({ partition, kind })
  })

  it.each([
    '',
    'ev',
    'ev.',
    'ev.1',
    'ev.1.',
    'ev..click',
    'ev.x.click',
    'ev.-1.click',
    'ev.1.5.click',
    'ev.1.Click',
    'ev.1.click.extra',
    'ev.1.click-x',
    'ev.1.*',
    'ev.1.>',
    'xev.1.click',
    'dlq.click',
    ' ev.1.click',
    'ev.1.click ',
    'ev.1.click\n',
  ])('rejects %j', (s) => {
    expect(parseEventSubject(s)).toBeUndefined()
  })

  it('dead-letter subjects', () => {
    expect(dlqSubject('click')).toBe('dlq.click')
    expect(dlqSubject('ftd')).toBe('dlq.ftd')
  })
})
