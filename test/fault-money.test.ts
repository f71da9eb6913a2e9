/**
 * Crash safety of the money: a mixed iGaming / Forex / prop stream (a hybrid deal with a cap
 * and retroactive tiers, tiered RevShare, per-lot IB with an override to the master IB, prop
 * fee shares, a sub-affiliate share, refunds and a player status) is sent over HTTP while the
 * processor (player and affiliate stages, own process) is killed with SIGKILL 20 times at
 * random points and restarted on the same data directory. Every affiliate's ledger must end
 * exactly as the simulator computes it from the same events: the same lines, the same hashes,
 * the same chain head, no number missing, and the commission rollup equal to the lines.
 */
import { rmSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { ScenarioSchema, simulate, type ScenarioInput } from '../processor/simulator.js'
import { api, killMidStream, spawnApp, waitFor, type RunningApp } from './helpers/app.js'
import { tempDir, TEST_SECRETS } from './helpers/config.js'
import { startTestNats } from './helpers/nats.js'
import { BROWSER_UA } from './helpers/scenario.js'

const KILLS = Number(process.env.FAULT_KILLS ?? 20)
const PLAYERS = 60

const cleanup: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {})
})

type Line = { no: number; id: string; amount: string; status: string; hash: string }

describe('the processor killed with SIGKILL mid-stream, a mixed money stream', () => {
  it(`ends every affiliate's ledger exactly as the simulator computes it, after ${KILLS} kills`, async () => {
    const nats = await startTestNats()
    cleanup.push(() => nats.stop())
    const base = { NATS_URL: nats.url, ...TEST_SECRETS }
    const procDir = tempDir('money-proc')
    cleanup.push(async () => rmSync(procDir, { recursive: true, force: true }))
    const procEnv = { ...base, DATA_DIR: procDir, PROCESSOR_BATCH_MESSAGES: '7', PROCESSOR_BATCH_WAIT_MS: '10' }
    const ingest = await spawnApp({ env: { ...base, DATA_DIR: tempDir('money-ingest') }, args: ['--tier', 'ingest'] })
    cleanup.push(() => ingest.kill())
    let proc: RunningApp = await spawnApp({ env: procEnv, args: ['--tier', 'processor,query-api'] })
    const port = proc.port
    cleanup.push(() => proc.kill())
    const call = () => api(proc.url, TEST_SECRETS.OPERATOR_API_KEY)

    // the program
    const master = (await call()('POST', '/api/affiliates', { name: 'Master IB' })).body
    const casino = (await call()('POST', '/api/affiliates', { name: 'Casino partner', parentId: master.id })).body
    const ib = (await call()('POST', '/api/affiliates', { name: 'Sub-IB', parentId: master.id })).body
    const prop = (await call()('POST', '/api/affiliates', { name: 'Prop partner' })).body
    const deals: ScenarioInput['deals'] = []
    const deal = async (affiliateId: number, terms: Record<string, unknown>) => {
      const d = await call()('POST', '/api/deals', { name: `deal of ${affiliateId}`, affiliateId, terms })
      expect(d.status, JSON.stringify(d.body)).toBe(201)
      deals.push({ id: d.body.id, affiliateId, versions: [{ effectiveFrom: new Date(d.body.versions[0].effectiveFrom).toISOString(), terms: terms as never }] })
    }
    await deal(master.id, { currency: 'USD', subAffiliate: { tiers: ['0.10'] } })
    await deal(casino.id, {
      currency: 'USD',
      cpl: { amount: '1' },
      cpa: {
        amount: '80',
        holdDays: 14,
        qualification: { minFirstDeposit: '20' },
        caps: { monthly: 25 },
        retroTiers: [
          { at: 5, amount: '90' },
          { at: 15, amount: '100' },
        ],
      },
      revshare: {
        bands: [
          { from: '0', rate: '0.25' },
          { from: '2000', rate: '0.35' },
        ],
        mode: 'tiered',
      },
    })
    await deal(ib.id, { currency: 'USD', ib: { perLot: { '*': '6' }, overridesPerLot: ['1.50'], clientRebatePerLot: '0.5' } })
    await deal(prop.id, { currency: 'USD', prop: { firstPurchase: '0.2', reset: '0.1', refundWindowDays: 7 }, cpa: { amount: '30', holdDays: 7 } })
    const links = new Map<number, string>()
    for (const a of [casino.id, ib.id, prop.id])
      links.set(a, (await call()('POST', '/api/links', { affiliateId: a, destination: 'https://brand.example/?cid={click_id}' })).body.code)
    const src = (await call()('POST', '/api/sources', { name: 'platform' })).body
    await new Promise((r) => setTimeout(r, 500))

    // the stream, sent one event at a time (its order on the stream is the scenario's)
    const events: ScenarioInput['events'] = []
    const day = new Date().toISOString().slice(0, 10)
    const send = async (body: Record<string, string>, ev: Omit<ScenarioInput['events'][number], 'at' | 'id'>) => {
      const at = new Date().toISOString()
      for (let tries = 0; ; tries++) {
        const r = await fetch(`${ingest.url}/postback`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-postback-token': src.token },
          body: JSON.stringify({ source: String(src.id), occurred_at: at, ...body }),
        })
        if (r.status === 200) break
        if (tries > 50) throw new Error(`postback ${r.status}: ${await r.text()}`)
        await new Promise((res) => setTimeout(res, 100))
      }
      events.push({ ...ev, at, id: `${src.id}:${body.event_id}` })
    }
    const click = async (aff: number) => {
      for (let tries = 0; ; tries++) {
        const r = await fetch(`${ingest.url}/c/${links.get(aff)}`, { redirect: 'manual', headers: { 'user-agent': BROWSER_UA } })
        if (r.status === 302) return new URL(r.headers.get('location')!).searchParams.get('cid')!
        if (tries > 50) throw new Error(`click ${r.status}`)
        await new Promise((res) => setTimeout(res, 100))
      }
    }

    const killer = killMidStream({
      kills: KILLS,
      maxDelayMs: 150,
      call,
      killAndRestart: async () => {
        await proc.kill()
        proc = await spawnApp({ env: procEnv, args: ['--tier', 'processor,query-api'], port })
      },
    })

    for (let i = 0; i < PLAYERS; i++) {
      const p = `m-${i}`
      const kind = i % 3
      if (kind === 0) {
        const cid = await click(casino.id)
        await send({ event: 'registration', event_id: `reg-${i}`, click_id: cid, player_id: p }, { kind: 'registration', player: p, affiliate: casino.id })
        await send(
          { event: 'ftd', event_id: `ftd-${i}`, player_id: p, amount: i % 7 === 0 ? '15' : '40', currency: 'USD' },
          { kind: 'ftd', player: p, amount: i % 7 === 0 ? '15' : '40', currency: 'USD' },
        )
        const bets = String(200 + 53 * i)
        const wins = String(90 + 31 * (i % 5))
        await send(
          { event: 'activity', event_id: `act-${i}`, player_id: p, currency: 'USD', date: day, bets, wins },
          { kind: 'activity', player: p, currency: 'USD', details: { date: day, bets, wins } },
        )
        if (i % 9 === 0)
          await send(
            { event: 'refund', event_id: `rf-${i}`, player_id: p, amount: '40', currency: 'USD', ref_event_id: `ftd-${i}` },
            { kind: 'refund', player: p, amount: '40', currency: 'USD', details: { ref_event_id: `${src.id}:ftd-${i}` } },
          )
        if (i % 12 === 3)
          await send(
            { event: 'player_status', event_id: `st-${i}`, player_id: p, status: 'duplicate' },
            { kind: 'player_status', player: p, status: 'duplicate' },
          )
      } else if (kind === 1) {
        const cid = await click(ib.id)
        await send({ event: 'registration', event_id: `reg-${i}`, click_id: cid, player_id: p }, { kind: 'registration', player: p, affiliate: ib.id })
        const lots = `${1 + (i % 4)}.${i % 10}`
        await send(
          { event: 'trade', event_id: `tr-${i}`, player_id: p, instrument: 'EURUSD', lots, currency: 'USD' },
          { kind: 'trade', player: p, currency: 'USD', details: { instrument: 'EURUSD', lots } },
        )
      } else {
        const cid = await click(prop.id)
        await send({ event: 'registration', event_id: `reg-${i}`, click_id: cid, player_id: p }, { kind: 'registration', player: p, affiliate: prop.id })
        await send(
          { event: 'challenge_purchase', event_id: `buy-${i}`, player_id: p, amount: '199', currency: 'USD' },
          { kind: 'challenge_purchase', player: p, amount: '199', currency: 'USD' },
        )
        await send(
          { event: 'challenge_reset', event_id: `reset-${i}`, player_id: p, amount: '99', currency: 'USD' },
          { kind: 'challenge_reset', player: p, amount: '99', currency: 'USD' },
        )
        if (i % 4 === 0)
          await send(
            { event: 'challenge_refund', event_id: `crf-${i}`, player_id: p, amount: '199', currency: 'USD', ref_event_id: `buy-${i}` },
            { kind: 'challenge_refund', player: p, amount: '199', currency: 'USD', details: { ref_event_id: `${src.id}:buy-${i}` } },
          )
      }
      // paced, so the kills land across the whole stream
      await new Promise((r) => setTimeout(r, 40))
    }
    // keep the stream going (clicks: they move no money) until every kill has landed
    while (killer.killed() < KILLS) {
      await click(casino.id)
      await new Promise((r) => setTimeout(r, 20))
    }
    await killer.stop()
    expect(killer.killed()).toBe(KILLS)

    const sim = simulate(
      ScenarioSchema.parse({
        program: { currency: 'USD' },
        affiliates: [{ id: master.id }, { id: casino.id, parentId: master.id }, { id: ib.id, parentId: master.id }, { id: prop.id }],
        deals,
        events,
      }),
    )
    const affs = [master.id, casino.id, ib.id, prop.id] as number[]
    const want = Object.fromEntries(affs.map((a) => [a, sim.lines.filter((l) => l.affiliateId === a)]))
    for (const a of affs) expect(want[a]!.length, `the simulator pays affiliate ${a}`).toBeGreaterThan(0)
    const got = await waitFor(
      'every line written',
      async () => {
        const s = (await call()('GET', '/api/status')).body
        const out: Record<number, Line[]> = {}
        for (const a of affs) out[a] = (await call()<{ items: Line[] }>('GET', `/api/ledger?affiliateId=${a}&limit=1000`)).body.items
        return { lag: s.processor.lag + s.affiliateStage.lag, out }
      },
      (x) => x.lag === 0 && affs.every((a) => x.out[a]!.length >= want[a]!.length),
      120_000,
    ).catch((err) => {
      throw new Error(`${(err as Error).message}\nthe processor's log (last lines):\n${proc.logs().split('\n').slice(-40).join('\n')}`)
    })
    for (const a of affs) {
      expect(
        got.out[a]!.map((l) => [l.no, l.id, l.amount, l.status, l.hash]),
        `affiliate ${a}'s ledger`,
      ).toEqual(want[a]!.map((l) => [l.no, l.id, l.amount, l.status, l.hash]))
      expect((await call()('GET', `/api/ledger/verify?affiliateId=${a}`)).body).toMatchObject({ ok: true, head: sim.heads[String(a)] })
    }
    const rec = (await call()('GET', '/api/reports/reconcile')).body
    expect(rec.ledgerGaps).toBe(0)
    expect(rec.raw.ledgerRows, 'no line written twice').toBe(rec.raw.ledgerEntries)
    expect(rec.rollup.commission).toEqual(rec.raw.commission)
  }, 600_000)
})
