import { describe, expect, it } from 'vitest'
import { nanos, type Consumer, type JsMsg } from 'nats'
import { consumerFeed, pullsFrom, type BatchFeed, type Pull } from './feed.js'
import { createLogger } from '../common/log.js'
import { natsPerFile } from '../test/helpers/nats-hooks.js'

// The feed over a real nats-server: delivery numbers stay consecutive across pulls and
// redeliveries (no false gap), and a real gap (a message the server sent that was never read)
// is recovered by opening the consumer again, with nothing acknowledged past it.

const t = natsPerFile()
const log = createLogger('silent')

async function stream(name: string, n: number) {
  const jsm = await t.nc.jetstreamManager()
  await jsm.streams.add({ name, subjects: [`${name}.>`] })
  const js = t.nc.jetstream()
  // two subjects interleaved; the consumer takes one, so its stream sequences are not consecutive
  for (let i = 1; i <= n; i++) await js.publish(`${name}.${i % 2 ? 'a' : 'b'}`, new TextEncoder().encode(String(i)))
}

/** Applies batches as a stage does (acknowledging the last of each), sleeping `slowMs` in each. */
async function drain(feed: BatchFeed, expected: number, slowMs = 0) {
  let applied = 0
  const got: number[] = []
  while (got.length < expected) {
    const b = await feed.next()
    if (!b) break
    expect(b.batch[0]!.seq).toBeGreaterThan(applied)
    got.push(...b.batch.map((m) => Number(new TextDecoder().decode(m.data))))
    if (slowMs) await new Promise((r) => setTimeout(r, slowMs))
    await b.batch.at(-1)!.ackAck()
    applied = b.batch.at(-1)!.seq
    feedApplied = applied
  }
  return got
}
let feedApplied = 0

/** Pulls from the consumer, passing on the messages `keep` says yes to. */
function passing(keep: (m: JsMsg) => boolean) {
  return (c: Consumer): Pull => {
    const pull = pullsFrom(c)
    return async (o) => {
      const it = await pull(o)
      return {
        stop: () => it.stop(),
        async *[Symbol.asyncIterator]() {
          for await (const m of it) if (keep(m)) yield m
        },
      }
    }
  }
}

describe('the feed on a real consumer', () => {
  it('sees no gap across pulls and redeliveries, and hands out each message once, in order', async () => {
    await stream('GA', 400)
    feedApplied = 0
    let redelivered = 0
    const feed = await consumerFeed(t.nc, {
      stream: 'GA',
      consumer: 'ga',
      // a short acknowledgement wait and slow batches: the server redelivers what waits
      config: { filter_subject: 'GA.a', ack_wait: nanos(300) },
      pulls: passing((m) => {
        if (m.redelivered) redelivered++
        return true
      }),
      batchMessages: 40,
      batchWaitMs: 20,
      applied: () => feedApplied,
      log,
    })
    const got = await drain(feed, 200, 250)
    expect(got).toEqual(Array.from({ length: 200 }, (_, i) => 2 * i + 1))
    expect(feed.gaps).toBe(0)
    // the server did redeliver
    expect(redelivered).toBeGreaterThan(0)
    feed.stop()
    feed.close()
  })

  it('at a message sent and never read, opens the consumer again after the applied position: nothing is lost', async () => {
    await stream('GB', 400)
    feedApplied = 0
    let dropped = 0
    const feed = await consumerFeed(t.nc, {
      stream: 'GB',
      consumer: 'gb',
      config: { filter_subject: 'GB.b' },
      // the first opening of the consumer loses its 77th delivery on the way
      pulls: (c) => {
        const first = dropped === 0
        let seen = 0
        return passing(() => !(first && ++seen === 77 && ++dropped))(c)
      },
      batchMessages: 30,
      batchWaitMs: 20,
      applied: () => feedApplied,
      log,
    })
    const got = await drain(feed, 200)
    expect(dropped).toBe(1)
    expect(feed.gaps).toBe(1)
    expect(got).toEqual(Array.from({ length: 200 }, (_, i) => 2 * i + 2))
    // and the consumer's acknowledgement floor is at the end: nothing left waiting
    const info = await (await t.nc.jetstreamManager()).consumers.info('GB', 'gb')
    expect(info.num_pending + info.num_ack_pending).toBe(0)
    feed.stop()
    feed.close()
  })
})
