import { describe, expect, it } from 'vitest'
import type { ConsumerMessages, JsMsg } from 'nats'
import { BatchFeed } from './feed.js'
import { createLogger } from '../common/log.js'

/** A consumer's deliveries, as many messages as given, of the given sizes, then it waits. */
function deliveries(sizes: number[]): ConsumerMessages {
  const msgs = sizes.map((n, i) => ({ seq: i + 1, data: new Uint8Array(n), ack() {} }) as unknown as JsMsg)
  return {
    async *[Symbol.asyncIterator]() {
      yield* msgs
      await new Promise(() => {})
    },
    stop() {},
  } as unknown as ConsumerMessages
}

const log = createLogger('silent')
const seqs = (b: { batch: JsMsg[] } | undefined) => b!.batch.map((m) => m.seq)

describe('BatchFeed', () => {
  it('closes a batch at the message count', async () => {
    const feed = new BatchFeed(deliveries(Array(7).fill(10)), { batchMessages: 3, batchWaitMs: 50, applied: () => 0, log })
    expect(seqs(await feed.next())).toEqual([1, 2, 3])
    expect(seqs(await feed.next())).toEqual([4, 5, 6])
    expect(seqs(await feed.next())).toEqual([7])
    feed.stop()
  })

  it('closes a batch before the message that would pass the byte bound, and never hands out an empty batch', async () => {
    const feed = new BatchFeed(deliveries([400, 400, 300, 2000, 10, 10]), { batchMessages: 100, batchBytes: 1000, batchWaitMs: 50, applied: () => 0, log })
    expect(seqs(await feed.next())).toEqual([1, 2])
    expect(seqs(await feed.next())).toEqual([3])
    // one message larger than the bound is a batch on its own
    expect(seqs(await feed.next())).toEqual([4])
    expect(seqs(await feed.next())).toEqual([5, 6])
    feed.stop()
  })

  it('hands out a pending range whole, whatever the bounds', async () => {
    const feed = new BatchFeed(deliveries([600, 600, 600, 600]), { batchMessages: 1, batchBytes: 100, batchWaitMs: 50, applied: () => 0, log })
    expect(seqs(await feed.next({ first: 1, last: 3 }))).toEqual([1, 2, 3])
    expect(seqs(await feed.next())).toEqual([4])
    feed.stop()
  })
})
