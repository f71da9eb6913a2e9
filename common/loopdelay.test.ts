import { describe, expect, it } from 'vitest'
import { LoopDelay, netFigures } from './loopdelay.js'

const busy = (ms: number) => {
  const end = Date.now() + ms
  while (Date.now() < end);
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('event-loop delay', () => {
  it('takes the sampling resolution off: a quiet loop reads near 0, not 10 ms', () => {
    const h = { count: 100, max: 12e6, percentile: (p: number) => (p === 50 ? 10.2e6 : 11e6) }
    expect(netFigures(h, 10)).toEqual({ p50: 0.2, p99: 1, max: 2 })
    expect(netFigures({ count: 0, max: 0, percentile: () => 0 }, 10)).toEqual({ p50: 0, p99: 0, max: 0 })
  })

  it('a block of the loop shows in the window it happened in, and not in the next one', async () => {
    // Windows closed by hand: the test does not race the window timer.
    const d = new LoopDelay({ resolutionMs: 5, windowMs: 3_600_000 }).start()
    try {
      await sleep(50)
      busy(200)
      await sleep(50) // the sampling timer records the late tick
      d.roll()
      const during = d.figures()
      expect(during.lastWindow.max).toBeGreaterThan(150)
      expect(during.sinceStart.max).toBeGreaterThan(150)
      await sleep(300)
      d.roll()
      const after = d.figures()
      expect(after.lastWindow.max).toBeLessThan(during.lastWindow.max - 50)
      expect(after.sinceStart.max).toBeGreaterThan(150)
    } finally {
      d.stop()
    }
  })
})
