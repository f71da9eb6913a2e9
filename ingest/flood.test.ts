import { describe, expect, it } from 'vitest'
import { FloodGuard, ipv6Groups, isLoopback } from './flood.js'

const T0 = 1_000_000_000_000

/** How many of `n` clicks from `ip`, one per `stepMs` from `from`, were over the limit. */
function flooded(g: FloodGuard, ip: string, n: number, from: number, stepMs = 0): boolean[] {
  return Array.from({ length: n }, (_, i) => g.hit(ip, from + i * stepMs))
}

describe('FloodGuard', () => {
  it('lets the limit through and marks every click after it', () => {
    const g = new FloodGuard(60, 60_000)
    const marks = flooded(g, '203.0.113.7', 70, T0, 10)
    expect(marks.slice(0, 60).every((m) => !m)).toBe(true)
    expect(marks.slice(60).every((m) => m)).toBe(true)
  })

  it('counts each address apart', () => {
    const g = new FloodGuard(5, 60_000)
    flooded(g, '203.0.113.7', 10, T0)
    expect(g.hit('203.0.113.7', T0)).toBe(true)
    expect(g.hit('203.0.113.8', T0)).toBe(false)
    expect(g.hit('198.51.100.7', T0)).toBe(false)
  })

  it.each<[string, string, string]>([
    ['one /64 is one client', '2001:db8:1:2::1', '2001:db8:1:2:ffff:ffff:ffff:ffff'],
    ['written differently', '2001:db8:1:2::1', '2001:0DB8:0001:0002:0:0:0:9'],
    ['mapped IPv4 is the IPv4', '203.0.113.9', '::ffff:203.0.113.9'],
    ['a zone id is left out', 'fe80::1%eth0', 'fe80::2%eth1'],
  ])('%s: %s and %s share a count', (_n, a, b) => {
    const g = new FloodGuard(5, 60_000)
    flooded(g, a, 5, T0)
    expect(g.hit(b, T0)).toBe(true)
  })

  it('another /64 counts apart', () => {
    const g = new FloodGuard(5, 60_000)
    flooded(g, '2001:db8:1:2::1', 10, T0)
    expect(g.hit('2001:db8:1:3::1', T0)).toBe(false)
  })

  it('never counts loopback', () => {
    const g = new FloodGuard(1, 60_000)
    for (const ip of ['127.0.0.1', '::1', '::ffff:127.0.0.1', '127.1.2.3']) expect(flooded(g, ip, 10, T0).some((m) => m)).toBe(false)
  })

  describe('window roll-over', () => {
    it('forgets a burst two windows later', () => {
      const g = new FloodGuard(10, 60_000)
      g.hit('198.51.100.1', T0) // starts the first window
      expect(flooded(g, '203.0.113.7', 20, T0 + 1000).at(-1)).toBe(true)
      expect(g.hit('203.0.113.7', T0 + 2 * 60_000 + 1)).toBe(false)
    })

    it('slides: right after a roll-over the previous window still counts in full', () => {
      const g = new FloodGuard(10, 60_000)
      g.hit('198.51.100.1', T0)
      flooded(g, '203.0.113.7', 8, T0 + 59_000) // 8 at the end of window 1
      // 3 more just after the roll-over: 8 * ~1 + 3 = 11 > 10
      expect(flooded(g, '203.0.113.7', 3, T0 + 60_001)).toEqual([false, false, true])
    })

    it('slides: half a window later, half of the previous window counts', () => {
      const g = new FloodGuard(10, 60_000)
      g.hit('198.51.100.1', T0)
      flooded(g, '203.0.113.7', 10, T0 + 59_000)
      // at 1.5 windows: 10 * 0.5 = 5 from before, so 5 more pass and the 6th is over
      const marks = flooded(g, '203.0.113.7', 6, T0 + 90_000)
      expect(marks).toEqual([false, false, false, false, false, true])
    })

    it('a steady rate under the limit is never marked across many windows; a little over it is', () => {
      // The sliding estimate assumes the previous window's clicks were spread evenly: it is
      // within about one click of the true count in the last window.
      expect(flooded(new FloodGuard(60, 60_000), '203.0.113.7', 580, T0, 60_000 / 58).some((m) => m)).toBe(false)
      expect(flooded(new FloodGuard(60, 60_000), '203.0.113.7', 650, T0, 60_000 / 65).slice(100).every((m) => m)).toBe(true)
    })
  })

  it('holds the same memory under a million distinct addresses, and keeps telling them apart', () => {
    const g = new FloodGuard(60, 60_000)
    const bytes = g.bytes
    expect(bytes).toBe(2 * 65536 * 2 * 4)
    const heapBefore = process.memoryUsage().heapUsed
    let marked = 0
    for (let i = 0; i < 1_000_000; i++) {
      const ip = `${10 + (i >>> 16)}.${(i >>> 8) & 255}.${i & 255}.1`
      if (g.hit(ip, T0 + (i % 1000))) marked++
    }
    for (let i = 0; i < 1_000_000; i++) if (g.hit(`2001:db8:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`, T0 + 2000)) marked++
    expect(g.bytes).toBe(bytes)
    // the strings made by the loop are garbage, not held: the heap does not keep them
    global.gc?.()
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024)
    // two million addresses with one click each: a few collide on both rows, none reaches 60
    expect(marked).toBe(0)
    // and a real flood among them is still seen
    expect(flooded(g, '203.0.113.7', 61, T0 + 3000).at(-1)).toBe(true)
  })
})

describe('ipv6Groups', () => {
  const groups = (s: string) => {
    const out = new Uint16Array(8)
    return ipv6Groups(s, out) ? Array.from(out) : undefined
  }
  it.each<[string, number[] | undefined]>([
    ['2001:db8::1', [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]],
    ['::1', [0, 0, 0, 0, 0, 0, 0, 1]],
    ['::', [0, 0, 0, 0, 0, 0, 0, 0]],
    ['fe80::', [0xfe80, 0, 0, 0, 0, 0, 0, 0]],
    ['1:2:3:4:5:6:7:8', [1, 2, 3, 4, 5, 6, 7, 8]],
    ['2001:db8::1:2:3:4:5', [0x2001, 0xdb8, 0, 1, 2, 3, 4, 5]],
    ['fe80::1%eth0', [0xfe80, 0, 0, 0, 0, 0, 0, 1]],
    ['1:2:3:4:5:6:7', undefined],
    ['1::2::3', undefined],
    ['12345::', undefined],
    ['g::1', undefined],
    [':1:2:3:4:5:6:7', undefined],
  ])('%s', (s, want) => expect(groups(s)).toEqual(want))

  it('isLoopback', () => {
    expect(['127.0.0.1', '::1', '::ffff:127.0.0.1'].every(isLoopback)).toBe(true)
    expect(['10.0.0.1', '::2', '128.0.0.1'].some(isLoopback)).toBe(false)
  })
})
