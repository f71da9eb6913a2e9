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
import { EntityStore, type Link, type Offer, type WatchedBucket } from '../common/entities.js'
import type { ClickEvent, ConversionEvent } from '../common/events.js'
import { conversionOrderKey } from '../common/events.js'
import { createLogger } from '../common/log.js'
import { connectNats, ensureTopology, openKv } from '../common/nats.js'
import { KvBulk } from '../common/kvbulk.js'
import { ACCRUALS_STREAM, BUCKETS } from '../common/subjects.js'
import type { Affiliate } from '../common/entities.js'
import type { AccrualFact } from './domain/commission/accrual.js'
import { Publisher } from '../ingest/publisher.js'
import { testConfig, tempDir, TEST_SECRETS } from '../test/helpers/config.js'
import { startTestNats } from '../test/helpers/nats.js'
import { BROWSER_UA } from '../test/helpers/scenario.js'
import { waitFor } from '../test/helpers/app.js'
import { pseudonymizer } from '../common/pseudonym.js'
import { D } from '../common/money.js'
import { FACT_FIELDS, FACT_SUMS_SQL } from '../clickhouse/facts.js'
import { COUNTED } from '../clickhouse/counters.js'
import { Processor } from './consumer.js'
import type { PlayerState } from './domain/players.js'
import { compute, type ComputeContext, type TaskInput, type TaskOutput } from './pipeline.js'
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
  affiliates = (await EntityStore.open(nc)).affiliates.view
})

afterAll(async () => {
  await nc?.close()
  await ch?.close()
  await nats?.stop()
  rmSync(chDir, { recursive: true, force: true })
})

class Crash extends Error {}

const CHROME = BROWSER_UA

/** Clicks on a link through the ingest Publisher, then a registration (with one of those
 *  clicks) and an FTD of 10 EUR for each of `players` players; `tag` keeps ids apart. */
async function sendTraffic(publisher: Publisher, link: Link, clicks: number, players: number, tag: string) {
  const signer = new ClickIdSigner(TEST_SECRETS.CLICK_SECRET)
  const ids: string[] = []
  await Promise.all(
    Array.from({ length: clicks }, (_, i) => {
      const ts = Date.now()
      const id = signer.issue({ ts, linkId: link.id, affiliateId: link.affiliateId, offerId: 0 })
      ids.push(id)
      const e: ClickEvent = {
        kind: 'click',
        id,
        ts,
        code: link.code,
        linkId: link.id,
        affiliateId: link.affiliateId,
        offerId: 0,
        // one visitor each (more than 10 clicks a minute from one device are a flood)
        ip: `10.1.${Math.floor(i / 250)}.${i % 250}`,
        ua: CHROME,
        referer: '',
        sub: {},
        params: {},
      }
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

/** The accrual facts the player stage published (ACCRUALS), of one affiliate or all: what the
 *  affiliate stage turns into ledger lines. A fact published twice would be counted twice. */
async function accrued(affiliateId?: number): Promise<{ qualified: number; distinct: number }> {
  const jsm = await nc.jetstreamManager()
  const info = await jsm.streams.info(ACCRUALS_STREAM)
  const facts: AccrualFact[] = []
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(ACCRUALS_STREAM, { seq }).catch(() => undefined)
    if (!m) continue
    for (const line of new TextDecoder().decode(m.data).split('\n')) if (line) facts.push(JSON.parse(line) as AccrualFact)
  }
  const q = facts.filter((f) => f.type === 'qualified' && (affiliateId === undefined || f.affiliateId === affiliateId))
  return { qualified: q.length, distinct: new Set(q.map((f) => `${f.seq}:${f.idx}:${f.n}`)).size }
}

let affiliates: WatchedBucket<Affiliate> | undefined

function processorWith(
  over: { players?: PlayerStore; progressKv?: KV; compute?: (t: TaskInput) => TaskOutput; offers?: WatchedBucket<Offer> },
  deals: WatchedBucket<any>,
  progressKv: KV,
  playersKv: KvBulk,
) {
  const pool = createPool(
    { clickSecret: TEST_SECRETS.CLICK_SECRET, pseudonymSecret: TEST_SECRETS.PSEUDONYM_SECRET, windowMs: 30 * 86_400_000, ipStorage: 'full' },
    1,
  )
  const inProcess = over.compute
  const p = new Processor({
    nc,
    ch,
    pool: inProcess ? { run: async (t: TaskInput) => inProcess(t) } : pool,
    players: over.players ?? new PlayerStore(playersKv),
    deals,
    ...(over.offers ? { offers: over.offers } : {}),
    ...(affiliates ? { affiliates, accrualPartitions: cfg.stream.partitions } : {}),
    fraudBase: cfg.processor.fraudSettings,
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
  const l = await accrued()
  const [r] = await queryRows<Record<string, string>>(
    ch,
    `SELECT toString(sumIf(events, kind='click')) clicks, toString(sumIf(events, kind='ftd' AND status='attributed')) ftds FROM events_minute`,
  )
  return {
    events: Number(e!.n),
    distinct: Number(e!.d),
    clicks: Number(e!.clicks),
    ftds: Number(e!.ftds),
    ledger: l.qualified,
    ledgerDistinct: l.distinct,
    rollupClicks: Number(r!.clicks),
    rollupFtds: Number(r!.ftds),
  }
}

describe('processor crash recovery', () => {
  it('redoes a pending batch exactly, whether it died before or after saving player state', async () => {
    const store = await EntityStore.open(nc)
    const aff = await store.affiliates.create({ name: 'A' }, Date.now())
    const link = await store.links.create({ affiliateId: aff.id, destination: 'https://x.example/?c={click_id}' }, Date.now())
    await store.deals.addCpaVersion(aff.id, { amount: '25.50', currency: 'EUR', effectiveFrom: Date.now() - 1 }, Date.now())
    const deals = store.deals.view
    await deals.ready
    const progressKv = await openKv(nc, BUCKETS.progress)
    const playersKv = new KvBulk(nc, BUCKETS.players)
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
    await waitFor('caught up', counts, (x) => x.clicks === 500 && x.ftds === 30, 30_000)
    await waitFor(
      'lag 0',
      () => c.p.lag(),
      (l) => l === 0,
      10_000,
    )
    await c.p.stop()
    await c.pool.destroy()
    // counted once every batch is through (acknowledged: its accrual facts were published
    // before), not when the events first show in ClickHouse (a batch publishes after its insert)
    const done = await counts()

    expect(done).toEqual({
      events: 500 + 30 * 2,
      distinct: 500 + 30 * 2,
      clicks: 500,
      ftds: 30,
      ledger: 30,
      ledgerDistinct: 30,
      rollupClicks: 500,
      rollupFtds: 30,
    })
  }, 90_000)

  it("writes a redone batch's rows again when their insert token survived a kill but the rows did not", async () => {
    // chDB records an insert's dedup token before it commits the part; a SIGKILL in between
    // leaves the token without the rows. Simulated here: the batch is written, the process
    // "dies" before saving player state, and the batch's rows are then deleted (a mutation
    // keeps the dedup log, exactly the state such a kill leaves).
    const store = await EntityStore.open(nc)
    const aff = await store.affiliates.create({ name: 'Lost part' }, Date.now())
    const link = await store.links.create({ affiliateId: aff.id, destination: 'https://x.example/?c={click_id}' }, Date.now())
    await store.deals.addCpaVersion(aff.id, { amount: '7', currency: 'EUR', effectiveFrom: Date.now() - 1 }, Date.now())
    const deals = store.deals.view
    await deals.ready
    const progressKv = await openKv(nc, BUCKETS.progress)
    const playersKv = new KvBulk(nc, BUCKETS.players)
    const publisher = new Publisher(nc, { partitions: cfg.stream.partitions, maxBatchEvents: 100, maxInflight: 2, log })
    const mine = async () => {
      const [r] = await queryRows<Record<string, string>>(
        ch,
        `SELECT toString((SELECT count() FROM events WHERE affiliate_id = {a:UInt32} AND kind = 'click')) clicks,
                toString((SELECT sum(events) FROM events_minute WHERE affiliate_id = {a:UInt32} AND kind = 'click')) rollupClicks,
                toString((SELECT count() FROM player_facts WHERE affiliate_id = {a:UInt32})) facts,
                toString((SELECT sum(events) FROM player_day WHERE affiliate_id = {a:UInt32})) rollupFacts`,
        { a: aff.id },
      )
      return { ...Object.fromEntries(Object.entries(r!).map(([k, v]) => [k, Number(v)])), ledger: (await accrued(aff.id)).qualified } as Record<string, number>
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
    await waitFor(
      'the crash',
      async () => crashed,
      (x) => x,
      20_000,
    )
    await a.p.stop()
    await a.pool.destroy()
    const pending = JSON.parse((await progressKv.get('processor-all'))!.string()).pending as { first: number; last: number }
    expect(await mine()).toMatchObject({ clicks: 50, ledger: 5, facts: 5 })

    // the kill's aftermath: tokens recorded, rows gone (raw, marker, and the rollups the views never got)
    const sync = { mutations_sync: '2' } as never
    await ch.command({ query: `ALTER TABLE events DELETE WHERE stream_seq BETWEEN ${pending.first} AND ${pending.last}`, clickhouse_settings: sync })
    await ch.command({ query: `ALTER TABLE player_facts DELETE WHERE stream_seq BETWEEN ${pending.first} AND ${pending.last}`, clickhouse_settings: sync })
    await ch.command({ query: `ALTER TABLE processed_batches DELETE WHERE first_seq = ${pending.first}`, clickhouse_settings: sync })
    await ch.command({ query: `ALTER TABLE events_minute DELETE WHERE affiliate_id = ${aff.id}`, clickhouse_settings: sync })
    await ch.command({ query: `ALTER TABLE player_day DELETE WHERE affiliate_id = ${aff.id}`, clickhouse_settings: sync })
    // (the accrual facts were published; their ids make a second publication nothing)
    expect(await mine()).toMatchObject({ clicks: 0, ledger: 5, facts: 0 })

    const c = processorWith({}, deals, progressKv, playersKv)
    await c.p.start()
    await waitFor(
      'lag 0',
      () => c.p.lag(),
      (l) => l === 0,
      20_000,
    )
    await c.p.stop()
    await c.pool.destroy()
    expect(await mine()).toEqual({ clicks: 50, ledger: 5, rollupClicks: 50, facts: 5, rollupFacts: 5 })
    expect(c.p.stats.counts['redo.rewritten.events']).toBeGreaterThan(0)
    expect(c.p.stats.counts['redo.rewritten.player_facts']).toBe(5)
  }, 60_000)

  it('sends a poison message to the dead-letter stream with the reason, and processes the rest', async () => {
    const js = nc.jetstream()
    const jsm = await nc.jetstreamManager()
    const enc = new TextEncoder()
    const store = await EntityStore.open(nc)
    const deals = store.deals.view
    await deals.ready
    const progressKv = await openKv(nc, BUCKETS.progress)
    const playersKv = new KvBulk(nc, BUCKETS.players)
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

/** One affiliate's totals in every table the processor writes. */
async function totalsOf(affiliateId: number) {
  const [r] = await queryRows<Record<string, string>>(
    ch,
    `SELECT toString((SELECT count() FROM events WHERE affiliate_id = {a:UInt32})) events,
            toString((SELECT countIf(${COUNTED.clicks}) FROM events WHERE affiliate_id = {a:UInt32})) clicks,
            toString((SELECT countIf(${COUNTED.ftds}) FROM events WHERE affiliate_id = {a:UInt32})) ftds,
            toString((SELECT sumIf(events, ${COUNTED.clicks}) FROM events_minute WHERE affiliate_id = {a:UInt32})) rollupClicks,
            toString((SELECT sumIf(events, ${COUNTED.ftds}) FROM events_minute WHERE affiliate_id = {a:UInt32})) rollupFtds,
            toString((SELECT count() FROM player_facts WHERE affiliate_id = {a:UInt32})) facts,
            toString((SELECT sum(events) FROM player_day WHERE affiliate_id = {a:UInt32})) rollupFacts`,
    { a: affiliateId },
  )
  return { ...Object.fromEntries(Object.entries(r!).map(([k, v]) => [k, Number(v)])), ledger: (await accrued(affiliateId)).qualified } as Record<string, number>
}

async function program(name: string, cpa: string) {
  const store = await EntityStore.open(nc)
  const aff = await store.affiliates.create({ name }, Date.now())
  const link = await store.links.create({ affiliateId: aff.id, destination: 'https://x.example/?c={click_id}' }, Date.now())
  await store.deals.addCpaVersion(aff.id, { amount: cpa, currency: 'EUR', effectiveFrom: Date.now() - 1 }, Date.now())
  const deals = store.deals.view
  await deals.ready
  const progressKv = await openKv(nc, BUCKETS.progress)
  const playersKv = new KvBulk(nc, BUCKETS.players)
  const publisher = new Publisher(nc, { partitions: cfg.stream.partitions, maxBatchEvents: 100, maxInflight: 2, log })
  return { aff, link, deals, progressKv, playersKv, publisher }
}

async function deadLetters() {
  return (await (await nc.jetstreamManager()).streams.info('DEADLETTER')).state.messages
}

describe('a batch whose rule throws', () => {
  it('is neither written, acknowledged nor dead-lettered; the failure shows in stats; once the rule is fixed the totals are exact', async () => {
    const { aff, link, deals, progressKv, playersKv, publisher } = await program('Thrower', '12.5')
    const signer = new ClickIdSigner(TEST_SECRETS.CLICK_SECRET)
    let broken = true
    // The seam: the processor's compute, in-process, with a domain rule (the click-id check
    // attribution runs) that throws while `broken`.
    const rules: ComputeContext = {
      verify: (id) => {
        if (broken) throw new Error('injected: a bug in a rule')
        return signer.verify(id)
      },
      pseudonym: pseudonymizer(TEST_SECRETS.PSEUDONYM_SECRET),
      windowMs: 30 * 86_400_000,
      ipStorage: 'full',
      ipKey: TEST_SECRETS.PSEUDONYM_SECRET,
    }
    await sendTraffic(publisher, link, 40, 4, 'throw')
    const dlqBefore = await deadLetters()
    const nothing = await totalsOf(aff.id)
    expect(nothing).toMatchObject({ events: 0, ledger: 0, facts: 0 })

    const c = processorWith({ compute: (t) => compute(t, rules) }, deals, progressKv, playersKv)
    await c.p.start()
    const failing = await waitFor(
      'the failure in stats',
      async () => c.p.stats.failure,
      (f) => (f?.tries ?? 0) >= 3,
      20_000,
    )
    expect(failing!.message).toContain('injected: a bug in a rule')
    expect(failing!.nextDelayMs).toBeGreaterThan(0)
    expect(Date.now() - Date.parse(failing!.since)).toBeGreaterThanOrEqual(0)
    expect(await totalsOf(aff.id)).toEqual(nothing) // nothing of the batch written
    expect(await deadLetters()).toBe(dlqBefore) // nothing dead-lettered
    expect(await c.p.lag()).toBeGreaterThan(0) // nor acknowledged
    expect(c.p.stats.batches).toBe(0)

    broken = false
    await waitFor(
      'caught up',
      async () => ({ lag: await c.p.lag(), failure: c.p.stats.failure }),
      (x) => x.lag === 0 && x.failure === null,
      20_000,
    )
    await c.p.stop()
    await c.pool.destroy()
    expect(await totalsOf(aff.id)).toEqual({
      events: 40 + 4 * 2,
      clicks: 40,
      ftds: 4,
      ledger: 4,
      rollupClicks: 40,
      rollupFtds: 4,
      facts: 4, // each FTD is a deposit
      rollupFacts: 4,
    })
    expect(await deadLetters()).toBe(dlqBefore)
    expect(c.p.stats.retries).toBeGreaterThanOrEqual(3)
  }, 60_000)
})

describe('clicks that do not count', () => {
  it('a bot click and a flood click are in the events table as filtered, not in the click totals', async () => {
    const { aff, link, deals, progressKv, playersKv } = await program('Bot magnet', '1')
    const signer = new ClickIdSigner(TEST_SECRETS.CLICK_SECRET)
    const js = nc.jetstream()
    const ts = Date.now()
    const clickOf = (ua: string, flood?: true): ClickEvent => ({
      kind: 'click',
      id: signer.issue({ ts, linkId: link.id, affiliateId: aff.id, offerId: 0 }),
      ts,
      code: link.code,
      linkId: link.id,
      affiliateId: aff.id,
      offerId: 0,
      ip: '198.51.100.7',
      ua,
      referer: '',
      sub: {},
      params: {},
      ...(flood ? { flood } : {}),
    })
    const clicks = [
      clickOf(CHROME),
      clickOf(CHROME),
      clickOf('Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)'),
      clickOf('curl/8.5.0'),
      clickOf(CHROME, true),
    ]
    await js.publish('ev.2.click', new TextEncoder().encode(clicks.map((c) => JSON.stringify(c)).join('\n') + '\n'))
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
    const rows = await queryRows<{ status: string; reason: string; is_bot: number }>(
      ch,
      'SELECT status, reason, is_bot FROM events WHERE affiliate_id = {a:UInt32} ORDER BY stream_idx',
      { a: aff.id },
    )
    expect(rows).toEqual([
      { status: 'valid', reason: '', is_bot: 0 },
      { status: 'valid', reason: '', is_bot: 0 },
      { status: 'filtered', reason: 'bot', is_bot: 1 },
      { status: 'filtered', reason: 'bot', is_bot: 1 },
      { status: 'filtered', reason: 'click_flood', is_bot: 0 },
    ])
    expect(await totalsOf(aff.id)).toMatchObject({ events: 5, clicks: 2, rollupClicks: 2 })
    expect(c.p.stats.counts).toMatchObject({ 'click.bot': 2, 'click.click_flood': 1 })
  }, 60_000)
})

describe('player money facts', () => {
  it('are written beside the events rows, agree to the cent with the raw events and the per-player-day rollup, and a redone batch leaves them unchanged', async () => {
    const { aff, link, deals, progressKv, playersKv, publisher } = await program('Facts', '30')
    const signer = new ClickIdSigner(TEST_SECRETS.CLICK_SECRET)
    const ts = Date.now()
    const day = new Date(ts).toISOString().slice(0, 10)
    const events: ConversionEvent[] = []
    const base = (kind: ConversionEvent['kind'], i: number, player: string, o: Partial<ConversionEvent> = {}): ConversionEvent => ({
      kind,
      id: `1:fx-${kind}-${player}-${i}`,
      sourceId: 1,
      eventId: `fx-${kind}-${player}-${i}`,
      ts,
      playerId: player,
      ...o,
    })
    for (let p = 0; p < 3; p++) {
      const player = `fx-player-${aff.id}-${p}`
      const clickId = signer.issue({ ts: ts - 1000, linkId: link.id, affiliateId: aff.id, offerId: 0 })
      events.push(base('registration', 0, player, { clickId }))
      events.push(base('ftd', 0, player, { amount: '100.10', currency: 'EUR' }))
      events.push(
        base('activity', 0, player, {
          currency: 'EUR',
          details: { date: day, bets: '1000.005', wins: '850.5', bonuses: '25', fees: '2.25', adjustments: '-10' },
        }),
      )
      events.push(base('activity', 1, player, { currency: 'EUR', details: { date: day, bets: '0.001', wins: '0.002' } }))
      events.push(base('trade', 0, player, { currency: 'USD', details: { instrument: 'EURUSD', lots: '57.71', spread: '13.6', commission: '3.5' } }))
      events.push(base('challenge_purchase', 0, player, { amount: '155', currency: 'USD', details: { challenge_id: `CH-${p}`, plan: '100k' } }))
      events.push(base('chargeback', 0, player, { amount: '50', currency: 'EUR', details: { ref_event_id: 'x' } }))
      events.push(base('withdrawal', 0, player, { amount: '20', currency: 'EUR' }))
    }
    // an organic player's money is no affiliate's fact
    events.push(base('registration', 0, `fx-organic-${aff.id}`))
    events.push(base('deposit', 0, `fx-organic-${aff.id}`, { amount: '999', currency: 'EUR' }))
    for (const e of events) await publisher.conversion(e, conversionOrderKey(e))

    // First run dies after its ClickHouse writes, before saving player state: the redo writes
    // the same batch again.
    let crashed = false
    class CrashingStore extends PlayerStore {
      override async save(): Promise<void> {
        crashed = true
        throw new Crash('injected: died before saving player state')
      }
    }
    const a = processorWith({ players: new CrashingStore(playersKv) }, deals, progressKv, playersKv)
    await a.p.start()
    await waitFor(
      'the crash',
      async () => crashed,
      (x) => x,
      20_000,
    )
    await a.p.stop()
    await a.pool.destroy()
    const once = await totalsOf(aff.id)
    expect(once.facts).toBe(3 * 7)

    const c = processorWith({}, deals, progressKv, playersKv)
    await c.p.start()
    await waitFor(
      'lag 0',
      () => c.p.lag(),
      (l) => l === 0,
      20_000,
    )
    await c.p.stop()
    await c.pool.destroy()
    expect(await totalsOf(aff.id)).toEqual(once)
    expect(once).toMatchObject({ facts: 21, rollupFacts: 21, ftds: 3, ledger: 3 })

    // What was sent, per currency, with decimal.js.
    const want: Record<string, Record<string, string>> = {}
    const add = (cur: string, f: string, x: string) => {
      want[cur] ??= Object.fromEntries(FACT_FIELDS.map((k) => [k, '0']))
      want[cur]![f] = new D(want[cur]![f]!).plus(x).toFixed()
    }
    for (let p = 0; p < 3; p++) {
      add('EUR', 'deposits', '100.10')
      for (const [f, x] of Object.entries({
        bets: '1000.006',
        wins: '850.502',
        bonuses: '25',
        fees: '2.25',
        adjustments: '-10',
        chargebacks: '50',
        withdrawals: '20',
      }))
        add('EUR', f, x)
      for (const [f, x] of Object.entries({ lots: '57.71', spread: '13.6', commission: '3.5', challenge_fees: '155' })) add('USD', f, x)
    }
    const exact = (x: string) => new D(x).toFixed()
    const norm = (rows: Record<string, string>[]) =>
      Object.fromEntries(rows.map(({ currency, ...r }) => [currency!, Object.fromEntries(Object.entries(r).map(([k, v]) => [k, exact(v)]))]))
    const sums = FACT_FIELDS.map((f) => `toString(${f}) AS ${f}_`).join(', ')
    const unsuffix = (rows: Record<string, string>[]) => rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k.replace(/_$/, ''), v])))
    const facts = norm(
      unsuffix(
        await queryRows(
          ch,
          `SELECT currency, ${sums} FROM (SELECT currency, ${FACT_SUMS_SQL} FROM player_facts WHERE affiliate_id = {a:UInt32} GROUP BY currency)`,
          { a: aff.id },
        ),
      ),
    )
    const daily = norm(
      unsuffix(
        await queryRows(
          ch,
          `SELECT currency, ${sums} FROM (SELECT currency, ${FACT_SUMS_SQL} FROM player_day WHERE affiliate_id = {a:UInt32} GROUP BY currency)`,
          { a: aff.id },
        ),
      ),
    )
    // the raw record: the events rows' amounts and details maps
    const det = (f: string) => `sum(toDecimal128OrZero(details['${f}'], 12)) AS ${f}`
    const raw = norm(
      unsuffix(
        await queryRows(
          ch,
          `SELECT currency, ${sums} FROM (
             SELECT currency,
                    sumIf(amount, kind IN ('ftd', 'deposit')) AS deposits, sumIf(amount, kind = 'withdrawal') AS withdrawals,
                    ${['bets', 'wins', 'bonuses', 'fees', 'adjustments', 'lots', 'spread', 'commission'].map(det).join(', ')},
                    sumIf(amount, kind = 'chargeback') AS chargebacks, sumIf(amount, kind IN ('refund', 'challenge_refund')) AS refunds,
                    sumIf(amount, kind IN ('challenge_purchase', 'challenge_reset')) AS challenge_fees
             FROM events WHERE affiliate_id = {a:UInt32} AND status = 'attributed' AND kind != 'registration' GROUP BY currency)`,
          { a: aff.id },
        ),
      ),
    )
    expect(facts).toEqual(want)
    expect(daily).toEqual(want)
    expect(raw).toEqual(want)
    const [organic] = await queryRows<{ n: string }>(ch, `SELECT toString(count()) AS n FROM player_facts WHERE player_ref = {p:String}`, {
      p: pseudonymizer(TEST_SECRETS.PSEUDONYM_SECRET)(`fx-organic-${aff.id}`),
    })
    expect(organic!.n).toBe('0')
  }, 60_000)
})

describe("an offer's attribution window, versioned", () => {
  it('keeps the window a click was made under when the operator shortens it later; rows carry when the event happened', async () => {
    const { aff, deals, progressKv, playersKv, publisher } = await program('Windows', '5')
    const store = await EntityStore.open(nc)
    const DAY = 86_400_000
    const now = Date.now()
    const created = await store.offers.create({ name: 'Spins', destination: 'https://x.example/', attributionWindowDays: 30 }, now - 20 * DAY)
    const offer = await store.offers.update(created.id, { attributionWindowDays: 7 }, now - 9 * DAY)
    expect(offer.attributionWindowDays).toBe(7) // the API's field: the current window
    expect(offer.attributionWindows).toEqual([
      { days: 30, effectiveFrom: now - 20 * DAY },
      { days: 7, effectiveFrom: now - 9 * DAY },
    ])
    const offers = store.offers.view
    const signer = new ClickIdSigner(TEST_SECRETS.CLICK_SECRET)
    const click = (ts: number) => signer.issue({ ts, linkId: 1, affiliateId: aff.id, offerId: offer.id })
    const reg = (tag: string, clickId: string, occurredAt: number): ConversionEvent => ({
      kind: 'registration',
      id: `1:win-${tag}`,
      eventId: `win-${tag}`,
      sourceId: 1,
      ts: now,
      occurredAt,
      playerId: `win-${tag}`,
      clickId,
    })
    // clicked 10 days ago, under the 30 days then in force; 8 days ago, under 7
    const promised = reg('promised', click(now - 10 * DAY), now - 3_600_000)
    const expired = reg('expired', click(now - 8 * DAY), now)
    for (const e of [promised, expired]) await publisher.conversion(e, conversionOrderKey(e))

    const c = processorWith({ offers }, deals, progressKv, playersKv)
    await c.p.start()
    try {
      const rows = await waitFor(
        'both registrations stored',
        () =>
          queryRows<{ event_id: string; status: string; reason: string; occurred_at: string; ts: string }>(
            ch,
            "SELECT event_id, status, reason, toString(occurred_at) AS occurred_at, toString(ts) AS ts FROM events WHERE event_id LIKE '1:win-%' ORDER BY event_id",
          ),
        (r) => r.length === 2,
        20_000,
      )
      const at = (ms: number) => new Date(ms).toISOString().slice(0, 23).replace('T', ' ')
      expect(rows).toEqual([
        { event_id: '1:win-expired', status: 'unattributed', reason: 'click_expired', occurred_at: at(now), ts: at(now) },
        { event_id: '1:win-promised', status: 'attributed', reason: 'registered', occurred_at: at(now - 3_600_000), ts: at(now) },
      ])
    } finally {
      await c.p.stop()
      await c.pool.destroy()
    }
  })
})
