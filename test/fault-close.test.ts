/**
 * Crash safety of the close: 40 affiliates on a weekly hybrid deal (a CPA with a 10-day hold,
 * 25% RevShare with carryover, a sub-affiliate share to a recruiter), their players' weekly
 * revenue sent over HTTP with some of it arriving after its week closed, and 20 weeks closed
 * one after the other. After each close the processor (player and affiliate stages, own
 * process) is killed with SIGKILL at a random moment, before, during or after it applies the
 * close, and restarted on the same data directory. Every statement must end exactly as the
 * simulator computes it from the same events and closes, none twice; every ledger the
 * simulator's, its chain verifying against the statements' seals.
 */
import { rmSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { ScenarioSchema, simulate, type ScenarioInput } from '../processor/simulator.js'
import { periodEndOf, periodOf } from '../common/periods.js'
import { api, spawnApp, waitFor, type RunningApp } from './helpers/app.js'
import { tempDir, TEST_SECRETS } from './helpers/config.js'
import { startTestNats } from './helpers/nats.js'

const KILLS = Number(process.env.FAULT_KILLS ?? 20)
const AFFILIATES = 40
const DAY = 86_400_000
const FIRST_WEEK = Date.UTC(2026, 4, 11) // Monday of 2026-W20

const cleanup: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {})
})

type Statement = { affiliateId: number; period: string; seal: { no: number; hash: string }; lines: { kind: string; dealId: string; amount: string; lines: number }[]; totals: Record<string, string>[] }

describe('the processor killed with SIGKILL around each of 20 weekly closes', () => {
  it(`ends with exactly the simulator's statements, none twice, after ${KILLS} kills`, async () => {
    const nats = await startTestNats()
    cleanup.push(() => nats.stop())
    const base = { NATS_URL: nats.url, ...TEST_SECRETS }
    const procDir = tempDir('close-proc')
    cleanup.push(async () => rmSync(procDir, { recursive: true, force: true }))
    const procEnv = { ...base, DATA_DIR: procDir, PROCESSOR_BATCH_MESSAGES: '25', PROCESSOR_BATCH_WAIT_MS: '10' }
    const ingest = await spawnApp({ env: { ...base, DATA_DIR: tempDir('close-ingest') }, args: ['--tier', 'ingest'] })
    cleanup.push(() => ingest.kill())
    let proc: RunningApp = await spawnApp({ env: procEnv, args: ['--tier', 'processor,query-api'] })
    const port = proc.port
    cleanup.push(() => proc.kill())
    const call = async <T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
      for (let tries = 0; ; tries++) {
        try {
          return await api(proc.url, TEST_SECRETS.OPERATOR_API_KEY)<T>(method, path, body)
        } catch (err) {
          if (tries > 100) throw err
          await new Promise((r) => setTimeout(r, 100)) // restarting
        }
      }
    }

    // the program: a weekly deal for the group, affiliates 2-8 recruited by affiliate 1
    const terms = {
      currency: 'USD',
      period: 'week',
      cpa: { amount: '50', holdDays: 10 },
      revshare: { bands: [{ from: '0', rate: '0.25' }], carryover: true },
      subAffiliate: { tiers: ['0.1'] },
    }
    const affs: number[] = []
    for (let i = 0; i < AFFILIATES; i++) {
      const parentId = i >= 1 && i <= 7 ? affs[0] : undefined
      affs.push((await call('POST', '/api/affiliates', { name: `Weekly ${i}`, group: 'weekly', ...(parentId ? { parentId } : {}) })).body.id)
    }
    const deal = await call('POST', '/api/deals', { name: 'weekly hybrid', group: 'weekly', effectiveFrom: '2026-01-01T00:00:00Z', terms })
    expect(deal.status, JSON.stringify(deal.body)).toBe(201)
    const deals: ScenarioInput['deals'] = [{ id: deal.body.id, group: 'weekly', versions: [{ effectiveFrom: '2026-01-01', terms: terms as never }] }]
    // each affiliate's player, bound as a migration import binds it (the events are months old)
    const rows = []
    for (const [i, a] of affs.entries()) {
      const code = (await call('POST', '/api/links', { affiliateId: a, destination: 'https://brand.example/?cid={click_id}' })).body.code
      rows.push({ player_id: `w${i}`, link_code: code })
    }
    const bound = await call('POST', '/api/import/players', { rows })
    expect(bound.body.results.every((r: { action: string }) => r.action === 'bind'), JSON.stringify(bound.body)).toBe(true)
    const src = (await call('POST', '/api/sources', { name: 'platform' })).body
    await new Promise((r) => setTimeout(r, 500))

    const events: ScenarioInput['events'] = []
    const send = async (at: number, body: Record<string, string>, ev: Record<string, unknown>) => {
      const occurred = new Date(at).toISOString()
      for (let tries = 0; ; tries++) {
        const r = await fetch(`${ingest.url}/postback`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-postback-token': src.token },
          body: JSON.stringify({ source: String(src.id), occurred_at: occurred, ...body }),
        })
        if (r.status === 200) break
        if (tries > 50) throw new Error(`postback ${r.status}: ${await r.text()}`)
        await new Promise((res) => setTimeout(res, 100))
      }
      events.push({ ...ev, at: occurred, id: `${src.id}:${body.event_id}` } as ScenarioInput['events'][number])
    }
    const activity = (i: number, at: number, id: string) => {
      const day = Math.floor(at / DAY)
      const bets = `${100 + ((i * 37 + day) % 400)}.37`
      const wins = `${(i * 53 + day * 29) % 500}.11`
      const date = new Date(at).toISOString().slice(0, 10)
      return send(at, { event: 'activity', event_id: id, player_id: `w${i}`, currency: 'USD', date, bets, wins }, { kind: 'activity', player: `w${i}`, currency: 'USD', details: { date, bets, wins } })
    }

    let killed = 0
    const closeMs: number[] = []
    for (let w = 0; w < KILLS; w++) {
      const start = FIRST_WEEK + w * 7 * DAY
      const week = periodOf(start, 'week')
      for (const [i] of affs.entries()) {
        const at = start + 2 * DAY + i * 60_000
        if (w === 0) {
          await send(at - 1000, { event: 'registration', event_id: `reg-${i}`, player_id: `w${i}` }, { kind: 'registration', player: `w${i}`, affiliate: affs[i] })
          await send(at, { event: 'ftd', event_id: `ftd-${i}`, player_id: `w${i}`, amount: '100', currency: 'USD' }, { kind: 'ftd', player: `w${i}`, amount: '100', currency: 'USD' })
        }
        await activity(i, at + 1000, `act-${i}-${w}`)
        // some of last week's revenue arrives only now, after last week closed
        if (w > 0 && i % 7 === w % 7) await activity(i, start - DAY + i * 60_000, `late-${i}-${w}`)
      }
      const asOf = periodEndOf(week) + 2 * DAY
      const c = await call('POST', '/api/periods/close', { period: week, asOf: new Date(asOf).toISOString() })
      expect(c.status, JSON.stringify(c.body)).toBe(202)
      events.push({ at: new Date(asOf).toISOString(), close: week })
      // die at a random moment: before the close is reached, while it is applied, or after
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 700)))
      const s = await call('GET', '/api/status')
      if (s.body.affiliateStage?.lastCloseMs) closeMs.push(s.body.affiliateStage.lastCloseMs)
      await proc.kill()
      killed++
      proc = await spawnApp({ env: procEnv, args: ['--tier', 'processor,query-api'], port })
    }
    expect(killed).toBe(KILLS)

    const sim = simulate(ScenarioSchema.parse({ program: { currency: 'USD' }, affiliates: affs.map((id, i) => ({ id, group: 'weekly', ...(i >= 1 && i <= 7 ? { parentId: affs[0] } : {}) })), deals, events }))
    const want = sim.statements.map((s) => ({ affiliateId: s.affiliateId, period: s.period, seal: s.seal, lines: s.lines.map((l) => ({ kind: l.kind, dealId: l.dealId, amount: l.amount, lines: l.lines })), totals: s.totals }))
    expect(want.length).toBe(KILLS * AFFILIATES)
    await waitFor(
      'both stages caught up',
      async () => (await call('GET', '/api/status')).body,
      (s) => s.processor.lag === 0 && s.affiliateStage.lag === 0,
      180_000,
    )
    const got = await waitFor(
      'every statement',
      async () => (await call<{ items: Statement[] }>('GET', '/api/statements')).body.items,
      (items) => items.length >= want.length,
      60_000,
    )
    const order = (a: { affiliateId: number; period: string }, b: { affiliateId: number; period: string }) => a.affiliateId - b.affiliateId || (a.period < b.period ? -1 : 1)
    const projected = got.map((s) => ({ affiliateId: s.affiliateId, period: s.period, seal: s.seal, lines: s.lines.map((l) => ({ kind: l.kind, dealId: l.dealId, amount: l.amount, lines: l.lines })), totals: s.totals }))
    expect(projected.sort(order)).toEqual(want.sort(order))
    for (const a of affs) {
      const lines = (await call<{ items: { hash: string }[] }>('GET', `/api/ledger?affiliateId=${a}&limit=1000`)).body.items
      expect(lines.map((l) => l.hash), `affiliate ${a}'s ledger`).toEqual(sim.lines.filter((l) => l.affiliateId === a).map((l) => l.hash))
      expect((await call('GET', `/api/ledger/verify?affiliateId=${a}`)).body).toMatchObject({ ok: true, head: sim.heads[String(a)] })
    }
    const rec = (await call('GET', '/api/reports/reconcile')).body
    expect(rec.ledgerGaps).toBe(0)
    expect(rec.raw.ledgerRows, 'no line written twice').toBe(rec.raw.ledgerEntries)
    expect([rec.raw.statements, rec.raw.statementRows], 'no statement twice').toEqual([want.length, want.length])
    // where the kills landed against how long a close takes
    console.log(`closes took ${closeMs.join(', ')} ms; kills 0-700 ms after each close was accepted`)
  }, 900_000)
})
