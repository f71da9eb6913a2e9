import { describe, expect, it } from 'vitest'
import type { JsMsg } from 'nats'
import { BatchFeed, type Pull } from './feed.js'
import { createLogger } from '../common/log.js'

/** A consumer as the server serves pulls: the messages of the given sizes, each pull up to its
 *  bytes and 100 messages (the client library's count per pull); with nothing left, a pull waits
 *  until it is stopped. Records what each pull asked for and got. */
function deliveries(sizes: number[]) {
  const msgs = sizes.map((n, i) => ({ seq: i + 1, data: new Uint8Array(n), ack() {} }) as unknown as JsMsg)
  let next = 0
  const pulls: { asked: number; got: number }[] = []
  const pull: Pull = async ({ maxBytes }) => {
    let stop = () => {}
    const stopped = new Promise<void>((r) => (stop = r))
    const rec = { asked: maxBytes, got: 0 }
    pulls.push(rec)
    return {
      stop,
      async *[Symbol.asyncIterator]() {
        let bytes = 0
        while (next < msgs.length && rec.got < 100 && bytes + msgs[next]!.data.length <= maxBytes) {
          bytes += msgs[next]!.data.length
          rec.got++
          yield msgs[next++]!
        }
        if (rec.got === 0) await stopped
      },
    }
  }
  return { pull, pulls }
}

const log = createLogger('silent')
const seqs = (b: { batch: JsMsg[] } | undefined) => b!.batch.map((m) => m.seq)

describe('BatchFeed', () => {
  it('closes a batch at the message count', async () => {
    const feed = new BatchFeed(deliveries(Array(7).fill(10)).pull, { batchMessages: 3, batchWaitMs: 50, applied: () => 0, log })
    expect(seqs(await feed.next())).toEqual([1, 2, 3])
    expect(seqs(await feed.next())).toEqual([4, 5, 6])
    expect(seqs(await feed.next())).toEqual([7])
    feed.stop()
  })

  it('closes a batch before the message that would pass the byte bound, and never hands out an empty batch', async () => {
    const feed = new BatchFeed(deliveries([400, 400, 300, 2000, 10, 10]).pull, { batchMessages: 100, batchBytes: 1000, batchWaitMs: 50, applied: () => 0, log })
    expect(seqs(await feed.next())).toEqual([1, 2])
    expect(seqs(await feed.next())).toEqual([3])
    // one message larger than the bound is a batch on its own
    expect(seqs(await feed.next())).toEqual([4])
    expect(seqs(await feed.next())).toEqual([5, 6])
    feed.stop()
  })

  it('pulls no further than its buffer bound: a backlog of large messages waits on the server, not in memory, and each pull asks for a bounded number of bytes', async () => {
    // 1,000 messages of 100 KB (a backlog of group-committed clicks), a buffer bound of 1 MB, pulls of 300 KB
    const d = deliveries(Array(1000).fill(100_000))
    const feed = new BatchFeed(d.pull, { batchMessages: 4, batchWaitMs: 5, applied: () => 0, log, bufferBytes: 1_000_000, pullBytes: 300_000 })
    await new Promise((r) => setTimeout(r, 50))
    const got = () => d.pulls.reduce((t, p) => t + p.got, 0)
    // pulled up to the bound (the last pull may pass it by less than one pull), then stopped
    expect(got()).toBeGreaterThanOrEqual(10)
    expect(got()).toBeLessThanOrEqual(13)
    expect(d.pulls.every((p) => p.asked === 300_000 && p.got <= 3)).toBe(true)
    const before = got()
    await new Promise((r) => setTimeout(r, 50))
    expect(got()).toBe(before)
    // taking batches makes room: it pulls again, and every message comes once, in order
    const seen: number[] = []
    while (seen.length < 1000) seen.push(...seqs(await feed.next()))
    expect(seen).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1))
    feed.stop()
    feed.close()
  })

  it('hands out a pending range whole, whatever the bounds', async () => {
    const feed = new BatchFeed(deliveries([600, 600, 600, 600]).pull, { batchMessages: 1, batchBytes: 100, batchWaitMs: 50, applied: () => 0, log })
    expect(seqs(await feed.next({ first: 1, last: 3 }))).toEqual([1, 2, 3])
    expect(seqs(await feed.next())).toEqual([4])
    feed.stop()
  })

  it('at a gap in deliveries (messages sent and never read) hands out nothing past it: it opens the consumer again after the applied position, and every message comes once, in order', async () => {
    // a consumer over messages 1..40 from a start sequence, each delivery numbered; a delivery
    // listed in `lost` (opening of the consumer, its delivery number) is sent and never read
    // (a pull given up on while it was on the way)
    const lost = ['1:5', '2:18']
    const opened: number[] = []
    const consumer = (from: number): Pull => {
      const opening = opened.push(from)
      let seq = from
      let delivery = 0
      return async () => ({
        stop() {},
        async *[Symbol.asyncIterator]() {
          for (let i = 0; i < 3 && seq <= 40; i++) {
            const m = { seq: seq++, info: { deliverySequence: ++delivery }, data: new Uint8Array(10), ack() {} } as unknown as JsMsg
            if (!lost.includes(`${opening}:${delivery}`)) yield m
          }
          await new Promise((r) => setTimeout(r, 1))
        },
      })
    }
    let applied = 0
    const feed = new BatchFeed(consumer(1), { batchMessages: 4, batchWaitMs: 2, applied: () => applied, log, reopen: async (from) => consumer(from) })
    const seen: number[] = []
    while (applied < 40) {
      const b = seqs(await feed.next())
      // each batch starts right after what was applied and has no hole
      expect(b).toEqual(Array.from({ length: b.length }, (_, i) => applied + 1 + i))
      seen.push(...b)
      applied = b.at(-1)!
    }
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => i + 1))
    expect(feed.gaps).toBe(2)
    expect(opened[0]).toBe(1)
    expect(opened.length).toBe(3)
    feed.stop()
    feed.close()
  })

  it('waits for a pending range past its buffer bound', async () => {
    // a pending range of 5 messages of 400 bytes with a buffer bound of 1,000 bytes
    const feed = new BatchFeed(deliveries(Array(8).fill(400)).pull, {
      batchMessages: 2,
      batchWaitMs: 5,
      applied: () => 0,
      log,
      bufferBytes: 1_000,
      pullBytes: 400,
    })
    expect(seqs(await feed.next({ first: 1, last: 5 }))).toEqual([1, 2, 3, 4, 5])
    expect(seqs(await feed.next())).toEqual([6, 7])
    feed.stop()
    feed.close()
  })
})
