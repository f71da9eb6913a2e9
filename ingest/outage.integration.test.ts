/**
 * The publisher through a NATS outage without a restart, against a real nats-server this
 * test stops and starts: clicks go to the spool while NATS is away (each answered once on
 * disk), a conversion fails at once, health says why; when NATS is back the spool is
 * published in order, every click once, then clicks go straight to the stream again.
 */
import { rmSync } from 'node:fs'
import type { NatsConnection } from 'nats'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ClickEvent } from '../common/events.js'
import { createLogger } from '../common/log.js'
import { connectNats, ensureTopology, freePort, startNatsServer, type EmbeddedNats } from '../common/nats.js'
import { EVENTS_STREAM } from '../common/subjects.js'
import { tempDir, testConfig } from '../test/helpers/config.js'
import { Publisher, StreamUnavailableError } from './publisher.js'
import { Spool } from './spool.js'

const natsDir = tempDir('pub-nats')
let port: number
let nats: EmbeddedNats
let nc: NatsConnection

beforeAll(async () => {
  port = await freePort()
  nats = await startNatsServer({ storeDir: natsDir, port })
  nc = await connectNats(nats.url, 'test')
  await ensureTopology(nc, testConfig())
})

afterAll(async () => {
  await nc?.close()
  await nats?.stop()
  rmSync(natsDir, { recursive: true, force: true })
})

let n = 0
const click = (): ClickEvent => ({
  kind: 'click',
  id: `click-${++n}`,
  ts: Date.now(),
  code: 'c',
  linkId: 1,
  affiliateId: 1,
  offerId: 0,
  ip: '203.0.113.1',
  ua: '',
  referer: '',
  sub: {},
  params: {},
})

async function until(what: string, ok: () => boolean, ms = 20_000) {
  const end = Date.now() + ms
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function streamClicks(): Promise<string[]> {
  const jsm = await nc.jetstreamManager()
  const info = await jsm.streams.info(EVENTS_STREAM)
  const ids: string[] = []
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(EVENTS_STREAM, { seq })
    if (m.subject.endsWith('.click')) for (const l of new TextDecoder().decode(m.data).trim().split('\n')) ids.push(JSON.parse(l).id)
  }
  return ids
}

describe('Publisher through a NATS outage', () => {
  it('spools while NATS is away, publishes the spool in order when it is back, then publishes directly', async () => {
    const spool = await Spool.open(tempDir('pub-spool'))
    const p = new Publisher(nc, { partitions: 16, maxBatchEvents: 1000, maxInflight: 4, clickAckTimeoutMs: 3000, log: createLogger('silent'), spool })
    const before = await Promise.all(Array.from({ length: 10 }, () => p.click(click())))
    expect(before.every((a) => a !== undefined)).toBe(true)
    expect(p.health).toEqual({ ok: true })

    await nats.stop()
    await until('health to notice', () => !p.health.ok)
    expect(p.health).toEqual({ ok: false, reason: 'not connected to NATS' })
    await expect(p.conversion({ kind: 'registration', id: '1:r', sourceId: 1, eventId: 'r', ts: Date.now(), playerId: 'p' }, 'p:p')).rejects.toBeInstanceOf(
      StreamUnavailableError,
    )

    const during: ClickEvent[] = []
    for (let round = 0; round < 5; round++) {
      const batch = Array.from({ length: 10 }, click)
      during.push(...batch)
      const t0 = Date.now()
      const acks = await Promise.all(batch.map((c) => p.click(c)))
      expect(acks.every((a) => a === undefined)).toBe(true) // answered from the spool
      expect(Date.now() - t0).toBeLessThan(400) // on disk, not after the ack timeout
    }
    expect(p.stats.spooled).toBe(50)
    expect(spool.empty).toBe(false)

    nats = await startNatsServer({ storeDir: natsDir, port })
    await until('the spool to drain', () => spool.empty && p.health.ok)
    const after = Array.from({ length: 10 }, click)
    const acks = await Promise.all(after.map((c) => p.click(c)))
    expect(
      acks.every((a) => a !== undefined),
      JSON.stringify({ stats: p.stats, health: p.health, empty: spool.empty }),
    ).toBe(true) // straight to the stream again

    const ids = await streamClicks()
    const all = [...Array.from({ length: 10 }, (_, i) => `click-${i + 1}`), ...during.map((c) => c.id), ...after.map((c) => c.id)]
    expect(ids.length).toBe(all.length)
    expect(new Set(ids)).toEqual(new Set(all))
    // the spooled clicks reached the stream before the ones taken after recovery
    expect(Math.max(...during.map((c) => ids.indexOf(c.id)))).toBeLessThan(Math.min(...after.map((c) => ids.indexOf(c.id))))
    await p.drain()
  }, 60_000)

  it('stores a click once when its batch reached the stream but was spooled for want of a timely ack', async () => {
    // nats-server is paused (SIGSTOP) while batches are on the way: their publishes sit in its
    // socket, the ack timeout passes and they are spooled; once it resumes it stores them, and
    // the spooled copies go out under the same Nats-Msg-Id, so each click is stored once.
    const spool = await Spool.open(tempDir('pub-spool'))
    const p = new Publisher(nc, { partitions: 16, maxBatchEvents: 20, maxInflight: 4, clickAckTimeoutMs: 150, log: createLogger('silent'), spool })
    const before = new Set(await streamClicks())
    const sent: string[] = []
    for (let round = 0; round < 3; round++) {
      const batch = Array.from({ length: 30 }, click)
      sent.push(...batch.map((c) => c.id))
      nats.child.kill('SIGSTOP')
      const answered = Promise.all(batch.map((c) => p.click(c)))
      await new Promise((r) => setTimeout(r, 500))
      nats.child.kill('SIGCONT')
      await answered
    }
    expect(p.stats.spooled).toBeGreaterThan(0)
    await until('the spool to drain', () => spool.empty && p.health.ok)
    await new Promise((r) => setTimeout(r, 300))
    const ids = (await streamClicks()).filter((id) => !before.has(id))
    expect(ids.length).toBe(sent.length)
    expect(new Set(ids)).toEqual(new Set(sent))
    await p.drain()
  }, 60_000)
})
