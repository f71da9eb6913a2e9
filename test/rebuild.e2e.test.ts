/**
 * Rebuild: the event stream is the system of record. Drop everything derived from it (the
 * ClickHouse data, the player states, the affiliate books, the accrual facts, every
 * consumer's progress), start again, and the processor replays the stream into the same
 * ledger: every affiliate's lines, hashes and chain head come out identical, whatever the
 * batches of the replay.
 */
import { existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { connect } from 'nats'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ACCRUALS_STREAM, BUCKETS } from '../common/subjects.js'
import { api, spawnApp, waitFor, type RunningApp } from './helpers/app.js'
import { tempDir, TEST_SECRETS } from './helpers/config.js'
import { startTestNats } from './helpers/nats.js'
import { BROWSER_UA } from './helpers/scenario.js'

let nats: Awaited<ReturnType<typeof startTestNats>>
let app: RunningApp | undefined
const dataDir = tempDir('rebuild')
const env = () => ({ DATA_DIR: dataDir, NATS_URL: nats.url, ...TEST_SECRETS })

beforeAll(async () => {
  nats = await startTestNats()
  app = await spawnApp({ env: env() })
}, 60_000)

afterAll(async () => {
  await app?.kill().catch(() => {})
  await nats?.stop()
  rmSync(dataDir, { recursive: true, force: true })
})

type Line = { no: number; id: string; amount: string; status: string; hash: string }

describe('rebuild from the streams', () => {
  it("gives every affiliate the same ledger lines and chain head as before", async () => {
    let call = api(app!.url, TEST_SECRETS.OPERATOR_API_KEY)
    const master = (await call('POST', '/api/affiliates', { name: 'Master' })).body
    const sub = (await call('POST', '/api/affiliates', { name: 'Sub', parentId: master.id })).body
    const other = (await call('POST', '/api/affiliates', { name: 'Other' })).body
    const affs = [master.id, sub.id, other.id] as number[]
    const terms = {
      currency: 'USD',
      cpl: { amount: '3' },
      cpa: { amount: '100', holdDays: 30, qualification: { minFirstDeposit: '20' }, retroTiers: [{ at: 2, amount: '120' }] },
      revshare: { bands: [{ from: '0', rate: '0.25' }, { from: '300', rate: '0.35' }], mode: 'tiered' },
    }
    for (const a of [sub.id, other.id]) expect((await call('POST', '/api/deals', { name: `deal ${a}`, affiliateId: a, terms })).status).toBe(201)
    expect((await call('POST', '/api/deals', { name: 'master', affiliateId: master.id, terms: { currency: 'USD', subAffiliate: { tiers: ['0.10'] } } })).status).toBe(201)
    const day = new Date().toISOString().slice(0, 10)
    expect((await call('POST', '/api/fx', { rates: [{ date: day, from: 'EUR', to: 'USD', rate: '1.0825' }] })).status).toBe(201)
    const codes = new Map<number, string>()
    for (const a of [sub.id, other.id]) codes.set(a, (await call('POST', '/api/links', { affiliateId: a, destination: 'https://brand.example/?cid={click_id}' })).body.code)
    const src = (await call('POST', '/api/sources', { name: 'casino' })).body
    await new Promise((r) => setTimeout(r, 300))
    const post = async (body: Record<string, string>) => {
      const r = await fetch(`${app!.url}/postback`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-postback-token': src.token }, body: JSON.stringify({ source: String(src.id), ...body }) })
      expect(r.status, await r.clone().text()).toBe(200)
    }
    // six players over two affiliates: deposits in two currencies, play, a refund, a status
    for (let i = 0; i < 6; i++) {
      const aff = i % 2 === 0 ? sub.id : other.id
      const r = await fetch(`${app!.url}/c/${codes.get(aff)}`, { redirect: 'manual', headers: { 'user-agent': BROWSER_UA } })
      const cid = new URL(r.headers.get('location')!).searchParams.get('cid')!
      const p = `rb-${i}`
      await post({ event: 'registration', event_id: `reg-${i}`, click_id: cid, player_id: p })
      await post({ event: 'ftd', event_id: `ftd-${i}`, player_id: p, amount: i === 3 ? '15' : '50', currency: i % 3 === 0 ? 'EUR' : 'USD' })
      await post({ event: 'activity', event_id: `act-${i}`, player_id: p, currency: 'EUR', date: day, bets: String(100 + 37 * i), wins: String(20 * i) })
    }
    await post({ event: 'refund', event_id: 'refund-2', player_id: 'rb-2', amount: '50', currency: 'USD', ref_event_id: 'ftd-2' })
    await post({ event: 'player_status', event_id: 'st-5', player_id: 'rb-5', status: 'duplicate' })

    const ledgers = async () => {
      const out: Record<number, Line[]> = {}
      for (const a of affs) out[a] = (await call<{ items: Line[] }>('GET', `/api/ledger?affiliateId=${a}&limit=1000`)).body.items
      return out
    }
    const settled = async () => {
      const s = (await call('GET', '/api/status')).body
      return { lag: s.processor.lag + s.affiliateStage.lag, lines: s.affiliateStage.lines as number }
    }
    // every event through both stages
    await waitFor('both stages caught up', settled, (x) => x.lag === 0 && x.lines > 0, 30_000)
    await new Promise((r) => setTimeout(r, 500))
    await waitFor('both stages caught up', settled, (x) => x.lag === 0, 30_000)
    const before = await ledgers()
    expect(before[master.id]!.some((l) => l.id.startsWith('sub:'))).toBe(true)
    expect(before[sub.id]!.some((l) => l.id.startsWith('rev:'))).toBe(true)
    expect(before[other.id]!.some((l) => l.id.startsWith('cpa_retro:'))).toBe(true)
    for (const a of affs) expect((await call('GET', `/api/ledger/verify?affiliateId=${a}`)).body).toMatchObject({ ok: true })

    // drop everything derived from the stream
    expect(await app!.stop()).toBe(0)
    app = undefined
    expect(existsSync(join(dataDir, 'clickhouse'))).toBe(true)
    rmSync(join(dataDir, 'clickhouse'), { recursive: true, force: true })
    const nc = await connect({ servers: nats.url })
    const js = nc.jetstream()
    for (const b of [BUCKETS.players, BUCKETS.books, BUCKETS.progress]) await (await js.views.kv(b)).destroy()
    await (await nc.jetstreamManager()).streams.delete(ACCRUALS_STREAM)
    await nc.close()

    app = await spawnApp({ env: env() })
    call = api(app.url, TEST_SECRETS.OPERATOR_API_KEY)
    const total = Object.values(before).reduce((n, ls) => n + ls.length, 0)
    // (the line count is this new process's: every line was written again by the replay)
    await waitFor('the replay', settled, (x) => x.lag === 0 && x.lines >= total, 60_000)
    const after = await ledgers()
    for (const a of affs) {
      expect(after[a]!.map((l) => [l.no, l.id, l.amount, l.status, l.hash])).toEqual(before[a]!.map((l) => [l.no, l.id, l.amount, l.status, l.hash]))
      expect(after[a]!.at(-1)!.hash).toBe(before[a]!.at(-1)!.hash)
    }
  }, 180_000)
})
