/**
 * The processor against a real nats-server and chDB, with crashes injected at the two
 * points that matter: after the ClickHouse writes but before any state was saved, and
 * after the player states were saved but before progress and ack. A fresh processor must
 * then redo the pending range and end with exactly the totals of an uninterrupted run.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type { KV, NatsConnection } from 'nats'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createChdb, queryRows, type ClickHouseClient } from '../clickhouse/client.js'
import { migrate } from '../clickhouse/migrate.js'
import { ClickIdSigner } from '../common/clickid.js'
import { CpaDealSchema, EntityStore, WatchedBucket, type Link } from '../common/entities.js'
import type { ClickEvent, ConversionEvent } from '../common/events.js'
import { conversionOrderKey } from '../common/events.js'
import { createLogger } from '../common/log.js'
import { connectNats, ensureTopology, openKv } from '../common/nats.js'
import { BUCKETS } from '../common/subjects.js'
import { Publisher } from '../ingest/publisher.js'
import { testConfig, tempDir, TEST_SECRETS } from '../test/helpers/config.js'
import { startTestNats } from '../test/helpers/nats.js'
import { waitFor } from '../test/helpers/app.js'
import { Processor } from './consumer.js'
import type { PlayerState } from './domain/players.js'
import { PlayerStore } from './state.js'
import { createPool } from './tier.js'

const log = createLogger('silent')
const cfg = testConfig()
let nats: Awaited<ReturnType<typeof startTestNats>>
let nc: NatsConnection
let ch: ClickHouseClient
const chDir = tempDir('chdb')

beforeAll(async () => {
  nats = await startTestNats()
  nc = await connectNats(nats.url, 'test')
  await ensureTopology(nc, cfg)
  ch = createChdb(join(chDir, 'ch'))
  await migrate(ch)
})

afterAll(async () => {
  await nc?.close()
  await ch?.close()
  await nats?.stop()
  rmSync(chDir, { recursive: true, force: true })
})

class Crash extends Error {}

/** Clicks on a link through the ingest Publisher, then a registration (with one of those
 *  clicks) and an FTD of 10 EUR for each of `players` players; `tag` keeps ids apart. */
async function sendTraffic(publisher: Publisher, link: Link, clicks: number, players: number, tag: string) {
  const signer = new ClickIdSigner(TEST_SECRETS.CLICK_SECRET)
  const ids: string[] = []
  await Promise.all(
    Array.from({ length: clicks }, () => {
      const ts = Date.now()
      const id = signer.issue({ ts, linkId: link.id, affiliateId: link.affiliateId, offerId: 0 })
      ids.push(id)
      const e: ClickEvent = { kind: 'click', id, ts, code: link.code, linkId: link.id, affiliateId: link.affiliateId, offerId: 0, ip: '1.2.3.4', ua: 'ua', referer: '', sub: {}, params: {} }
      return publisher.click(e)
    }),
  )
  for (let i = 0; i < players; i++) {
    const base = { sourceId: 1, ts: Date.now(), playerId: `${tag}-p${i}` }
    const reg: ConversionEvent = { ...base, kind: 'registration', id: `1:reg-${tag}-${i}`, eventId: `reg-${tag}-${i}`, clickId: ids[i] }
    const ftd: ConversionEvent = { ...base, kind: 'ftd', id: `1:ftd-${tag}-${i}`, eventId: `ftd-${tag}-${i}`, amount: '10', currency: 'EUR' }
    await publisher.conversion(reg, conversionOrderKey(reg))
    await publisher.conversion(ftd, conversionOrderKey(ftd))
  }
}

function processorWith(over: { players?: PlayerStore; progressKv?: KV }, deals: WatchedBucket<any>, progressKv: KV, playersKv: KV) {
  const pool = createPool({ clickSecret: TEST_SECRETS.CLICK_SECRET, pseudonymSecret: TEST_SECRETS.PSEUDONYM_SECRET, windowMs: 30 * 86_400_000, ipStorage: 'full' }, 1)
  const p = new Processor({
    nc,
    ch,
    pool,
    players: over.players ?? new PlayerStore(playersKv),
    deals,
    progressKv: over.progressKv ?? progressKv,
    log,
    consumer: 'processor-all',
    filterSubject: 'ev.>',
    batchMessages: 10_000,
    batchWaitMs: 300,
    ackWaitS: 30,
  })
  return { p, pool }
}

async function counts() {
  const [e] = await queryRows<Record<string, string>>(
    ch,
    `SELECT toString(count()) n, toString(uniqExact(event_id)) d, toString(countIf(kind='click')) clicks, toString(countIf(kind='ftd' AND status='attributed')) ftds FROM events`,
  )
  const [l] = await queryRows<Record<string, string>>(
    ch,
    `SELECT toString(count()) n, toString(uniqExact(entry_id)) d, toString(sum(amount)) amount FROM ledger`,
  )
  const [r] = await queryRows<Record<string, string>>(
    ch,
    `SELECT toString(sumIf(events, kind='click')) clicks, toString(sumIf(events, kind='ftd' AND status='attributed')) ftds FROM events_minute`,
  )
  const [c] = await queryRows<Record<string, string>>(ch, `SELECT toString(sum(entries)) n, toString(sum(amount)) amount FROM commission_minute`)
  return {
    events: Number(e!.n),
    distinct: Number(e!.d),
    clicks: Number(e!.clicks),
    ftds: Number(e!.ftds),
    ledger: Number(l!.n),
    ledgerDistinct: Number(l!.d),
    ledgerAmount: Number(l!.amount),
    rollupClicks: Number(r!.clicks),
    rollupFtds: Number(r!.ftds),
    rollupEntries: Number(c!.n),
    rollupAmount: Number(c!.amount),
  }
}

describe('processor crash recovery', () => {
  it('redoes a pending batch exactly, whether it died before or after saving player state', async () => {
    const store = await EntityStore.open(nc)
    const aff = await store.createAffiliate({ name: 'A' }, Date.now())
    const link = await store.createLink({ affiliateId: aff.id, destination: 'https://x.example/?c={click_id}' }, Date.now())
    await store.addCpaVersion(aff.id, { amount: '25.50', currency: 'EUR', effectiveFrom: Date.now() - 1 }, Date.now())
    const deals = new WatchedBucket(store.deals, CpaDealSchema, () => {})
    await deals.ready
    const progressKv = await openKv(nc, BUCKETS.progress)
    const playersKv = await openKv(nc, BUCKETS.players)
    const publisher = new Publisher(nc, { partitions: cfg.stream.partitions, maxBatchEvents: 100, maxInflight: 2, log })

    let round = 0
    const send = async (clicks: number, players: number) => {
      round++
      await sendTraffic(publisher, link, clicks, players, `r${round}`)
    }

    // 1. Crash after the ClickHouse writes, before any player state is saved.
    await send(300, 20)
    let crashed = false
    class CrashingStore extends PlayerStore {
      override async save(_c: Record<string, PlayerState>): Promise<void> {
        crashed = true
        throw new Crash('injected: died before saving player state')
      }
    }
    const a = processorWith({ players: new CrashingStore(playersKv) }, deals, progressKv, playersKv)
    await a.p.start()
    await waitFor(
      'first crash',
      async () => crashed,
      (x) => x,
      20_000,
    )
    await a.p.stop()
    await a.pool.destroy()
    // The rows are in ClickHouse already; the range is still pending.
    const mid = await counts()
    expect(mid.clicks).toBe(300)
    const progress = JSON.parse((await progressKv.get('processor-all'))!.string())
    expect(progress.pending).toBeDefined()

    // 2. A fresh processor redoes the range; then more traffic, and a crash after the
    //    player states were saved but before progress and the ack.
    await send(200, 10)
    let armed = true
    let crashed2 = false
    const flakyProgress = new Proxy(progressKv, {
      get(target, prop, recv) {
        if (prop === 'put')
          return async (k: string, v: Uint8Array) => {
            const isApplied = !new TextDecoder().decode(v).includes('pending')
            if (armed && isApplied && round === 2) {
              armed = false
              crashed2 = true
              throw new Crash('injected: died after saving player state, before progress')
            }
            return target.put(k, v)
          }
        return Reflect.get(target, prop, recv)
      },
    })
    const b = processorWith({ progressKv: flakyProgress }, deals, progressKv, playersKv)
    await b.p.start()
    await waitFor(
      'second crash',
      async () => crashed2,
      (x) => x,
      20_000,
    )
    await b.p.stop()
    await b.pool.destroy()

    // 3. A clean processor finishes everything.
    const c = processorWith({}, deals, progressKv, playersKv)
    await c.p.start()
    const done = await waitFor('caught up', counts, (x) => x.clicks === 500 && x.ftds === 30, 30_000)
    await waitFor(
      'lag 0',
      () => c.p.lag(),
      (l) => l === 0,
      10_000,
    )
    await c.p.stop()
    await c.pool.destroy()

    expect(done).toEqual({
      events: 500 + 30 * 2,
      distinct: 500 + 30 * 2,
      clicks: 500,
      ftds: 30,
      ledger: 30,
      ledgerDistinct: 30,
      ledgerAmount: 30 * 25.5,
      rollupClicks: 500,
      rollupFtds: 30,
      rollupEntries: 30,
      rollupAmount: 30 * 25.5,
    })
    deals.stop()
  }, 90_000)

  it("writes a redone batch's rows again when their insert token survived a kill but the rows did not", async () => {
    // chDB records an insert's dedup token before it commits the part; a SIGKILL in between
    // leaves the token without the rows. Simulated here: the batch is written, the process
    // "dies" before saving player state, and the batch's rows are then deleted (a mutation
    // keeps the dedup log, exactly the state such a kill leaves).
    const store = await EntityStore.open(nc)
    const aff = await store.createAffiliate({ name: 'Lost part' }, Date.now())
    const link = await store.createLink({ affiliateId: aff.id, destination: 'https://x.example/?c={click_id}' }, Date.now())
    await store.addCpaVersion(aff.id, { amount: '7', currency: 'EUR', effectiveFrom: Date.now() - 1 }, Date.now())
    const deals = new WatchedBucket(store.deals, CpaDealSchema, () => {})
    await deals.ready
    const progressKv = await openKv(nc, BUCKETS.progress)
    const playersKv = await openKv(nc, BUCKETS.players)
    const publisher = new Publisher(nc, { partitions: cfg.stream.partitions, maxBatchEvents: 100, maxInflight: 2, log })
    const mine = async () => {
      const [r] = await queryRows<Record<string, string>>(
        ch,
        `SELECT toString((SELECT count() FROM events WHERE affiliate_id = {a:UInt32} AND kind = 'click')) clicks,
                toString((SELECT count() FROM ledger WHERE affiliate_id = {a:UInt32})) ledger,
                toString((SELECT sum(events) FROM events_minute WHERE affiliate_id = {a:UInt32} AND kind = 'click')) rollupClicks,
                toString((SELECT sum(entries) FROM commission_minute WHERE affiliate_id = {a:UInt32})) rollupEntries`,
        { a: aff.id },
      )
      return Object.fromEntries(Object.entries(r!).map(([k, v]) => [k, Number(v)]))
    }
    await sendTraffic(publisher, link, 50, 5, 'lost')

    let crashed = false
    class CrashingStore extends PlayerStore {
      override async save(): Promise<void> {
        crashed = true
        throw new Crash('injected: died before saving player state')
      }
    }
    const a = processorWith({ players: new CrashingStore(playersKv) }, deals, progressKv, playersKv)
    await a.p.start()
    await waitFor('the crash', async () => crashed, (x) => x, 20_000)
    await a.p.stop()
    await a.pool.destroy()
    const pending = JSON.parse((await progressKv.get('processor-all'))!.string()).pending as { first: number; last: number }
    expect(await mine()).toMatchObject({ clicks: 50, ledger: 5 })

    // the kill's aftermath: tokens recorded, rows gone (raw, marker, and the rollups the views never got)
    const sync = { mutations_sync: '2' } as never
    await ch.command({ query: `ALTER TABLE events DELETE WHERE stream_seq BETWEEN ${pending.first} AND ${pending.last}`, clickhouse_settings: sync })
    await ch.command({ query: `ALTER TABLE ledger DELETE WHERE stream_seq BETWEEN ${pending.first} AND ${pending.last}`, clickhouse_settings: sync })
    await ch.command({ query: `ALTER TABLE processed_batches DELETE WHERE first_seq = ${pending.first}`, clickhouse_settings: sync })
    await ch.command({ query: `ALTER TABLE events_minute DELETE WHERE affiliate_id = ${aff.id}`, clickhouse_settings: sync })
    await ch.command({ query: `ALTER TABLE commission_minute DELETE WHERE affiliate_id = ${aff.id}`, clickhouse_settings: sync })
    expect(await mine()).toMatchObject({ clicks: 0, ledger: 0 })

    const c = processorWith({}, deals, progressKv, playersKv)
    await c.p.start()
    await waitFor('lag 0', () => c.p.lag(), (l) => l === 0, 20_000)
    await c.p.stop()
    await c.pool.destroy()
    deals.stop()
    expect(await mine()).toEqual({ clicks: 50, ledger: 5, rollupClicks: 50, rollupEntries: 5 })
    expect(c.p.stats.counts['redo.rewritten.events']).toBeGreaterThan(0)
  }, 60_000)

  it('sends a poison message to the dead-letter stream with the reason, and processes the rest', async () => {
    const js = nc.jetstream()
    const jsm = await nc.jetstreamManager()
    const enc = new TextEncoder()
    const store = await EntityStore.open(nc)
    const deals = new WatchedBucket(store.deals, CpaDealSchema, () => {})
    await deals.ready
    const progressKv = await openKv(nc, BUCKETS.progress)
    const playersKv = await openKv(nc, BUCKETS.players)
    const before = await counts()
    const signer = new ClickIdSigner(TEST_SECRETS.CLICK_SECRET)
    const ts = Date.now()
    const good: ClickEvent = {
      kind: 'click',
      id: signer.issue({ ts, linkId: 1, affiliateId: 1, offerId: 0 }),
      ts,
      code: 'x',
      linkId: 1,
      affiliateId: 1,
      offerId: 0,
      ip: '',
      ua: '',
      referer: '',
      sub: {},
      params: {},
    }
    // one message: a good click, a line that is not JSON, a click without an id
    await js.publish('ev.3.click', enc.encode(`${JSON.stringify(good)}\nnot json at all\n${JSON.stringify({ ...good, id: '' })}\n`))
    // a conversion that breaks its contract
    await js.publish('ev.4.ftd', enc.encode(JSON.stringify({ kind: 'ftd', id: 'x', sourceId: 1, eventId: 'x', ts, amount: 'lots' }) + '\n'))
    const dlqBefore = (await jsm.streams.info('DEADLETTER')).state.messages

    const c = processorWith({}, deals, progressKv, playersKv)
    await c.p.start()
    await waitFor(
      'processed',
      () => c.p.lag(),
      (l) => l === 0,
      20_000,
    )
    await c.p.stop()
    await c.pool.destroy()
    deals.stop()

    const after = await counts()
    expect(after.clicks - before.clicks).toBe(1)
    const info = await jsm.streams.info('DEADLETTER')
    expect(info.state.messages - dlqBefore).toBe(3)
    const reasons: string[] = []
    for (let seq = info.state.last_seq - 2; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage('DEADLETTER', { seq })
      reasons.push(JSON.parse(new TextDecoder().decode(m.data)).reason)
    }
    expect(reasons[0]).toBe('undecodable')
    expect(reasons[1]).toBe('invalid_click')
    expect(reasons[2]).toMatch(/^invalid_conversion: amount/)
  }, 60_000)
})
