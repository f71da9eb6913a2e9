/**
 * StreamWriter against a real nats-server: acknowledgements matched to their publishes,
 * the stream's duplicate window honoured, and every way a publish can fail reported as an
 * error (the publisher retries on errors; a publish that silently never settles would hang
 * a visitor's redirect or a postback's answer).
 */
import { connect, type NatsConnection } from 'nats'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestNats } from '../test/helpers/nats.js'
import { PublishError, StreamWriter } from './stream-writer.js'

let nats: Awaited<ReturnType<typeof startTestNats>>
let nc: NatsConnection
const enc = new TextEncoder()

beforeAll(async () => {
  nats = await startTestNats()
  nc = await connect({ servers: nats.url })
  const jsm = await nc.jetstreamManager()
  await jsm.streams.add({ name: 'W', subjects: ['w.>'], duplicate_window: 60_000_000_000 })
})
afterAll(async () => {
  await nc.close()
  await nats.stop()
})

describe('StreamWriter', () => {
  it('matches each acknowledgement to its own publish, concurrently', async () => {
    const w = new StreamWriter(nc)
    const acks = await Promise.all(Array.from({ length: 200 }, (_, i) => w.publish(`w.${i % 4}`, enc.encode(`m${i}`), `id-${i}`)))
    expect(new Set(acks.map((a) => a.seq)).size).toBe(200)
    const jsm = await nc.jetstreamManager()
    for (const i of [0, 77, 199]) {
      const m = await jsm.streams.getMessage('W', { seq: acks[i]!.seq })
      expect(new TextDecoder().decode(m.data)).toBe(`m${i}`)
    }
    expect(acks.every((a) => a.stream === 'W' && a.duplicate === false)).toBe(true)
    expect(w.pending).toBe(0)
    w.close()
  })

  it('reports a repeat of a msgId as a duplicate with the first sequence', async () => {
    const w = new StreamWriter(nc)
    const first = await w.publish('w.dup', enc.encode('one'), 'same-id')
    const again = await w.publish('w.dup', enc.encode('two'), 'same-id')
    expect(again).toMatchObject({ duplicate: true, seq: first.seq })
    w.close()
  })

  it('rejects when no stream takes the subject', async () => {
    const w = new StreamWriter(nc)
    await expect(w.publish('nostream.x', enc.encode('x'), 'n1')).rejects.toThrow(PublishError)
    w.close()
  })

  it('rejects a refused message with the stream reason', async () => {
    const jsm = await nc.jetstreamManager()
    await jsm.streams.add({ name: 'SMALL', subjects: ['small.>'], max_msg_size: 8 })
    const w = new StreamWriter(nc)
    await expect(w.publish('small.x', enc.encode('far more than eight bytes'), 's1')).rejects.toThrow(/refused/)
    w.close()
  })

  it('times out a publish nobody answers, and close() settles what is pending', async () => {
    // A plain subscriber on the subject (no stream) swallows the message and never replies.
    const sub = nc.subscribe('silent.>')
    const w = new StreamWriter(nc, 300)
    const t0 = Date.now()
    await expect(w.publish('silent.x', enc.encode('x'), 't1')).rejects.toThrow(/within 300 ms/)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250)
    const w2 = new StreamWriter(nc, 60_000)
    const p = w2.publish('silent.y', enc.encode('y'), 't2')
    w2.close()
    await expect(p).rejects.toThrow(PublishError)
    sub.unsubscribe()
    w.close()
  })
})
