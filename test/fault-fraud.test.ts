/**
 * Crash safety of the fraud rules' windows: click floods from several devices, registrations
 * from shared addresses and payment methods shared by players are sent in one calendar minute
 * while the processor (own process) is killed with SIGKILL at random points and restarted on
 * the same data directory. The decisions must be those of a run without kills, which are
 * exact here: per device, its 11th click of the minute on is filtered; per address, its 6th
 * registration of the day on is held; per payment method, its 2nd player on is held; every
 * finding once, none missing.
 */
import { rmSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { api, killMidStream, spawnApp, waitFor, type RunningApp } from './helpers/app.js'
import { tempDir, TEST_SECRETS } from './helpers/config.js'
import { startTestNats } from './helpers/nats.js'
import { awayFromMinuteEdge, BROWSER_UA } from './helpers/scenario.js'

const KILLS = Number(process.env.FAULT_KILLS ?? 6)
const DEVICES = 6
const CLICKS = 30
const ADDRESSES = 3
const REGS = 8
const CARDS = 3
const CARD_PLAYERS = 3

const cleanup: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {})
})

type Finding = { eventId: string; reason: string; action: string; evidence: Record<string, unknown> }

describe('the processor killed with SIGKILL mid-window', () => {
  it(`decides every flood, multi-account and shared payment as a run without kills would, after ${KILLS} kills`, async () => {
    const nats = await startTestNats()
    cleanup.push(() => nats.stop())
    const base = { NATS_URL: nats.url, ...TEST_SECRETS, TRUST_PROXY: 'true' }
    const procDir = tempDir('fraud-proc')
    cleanup.push(async () => rmSync(procDir, { recursive: true, force: true }))
    const procEnv = { ...base, DATA_DIR: procDir, PROCESSOR_BATCH_MESSAGES: '5', PROCESSOR_BATCH_WAIT_MS: '10' }
    const ingest = await spawnApp({ env: { ...base, DATA_DIR: tempDir('fraud-ingest') }, args: ['--tier', 'ingest'] })
    cleanup.push(() => ingest.kill())
    let proc: RunningApp = await spawnApp({ env: procEnv, args: ['--tier', 'processor,query-api'] })
    const port = proc.port
    cleanup.push(() => proc.kill())
    const call = () => api(proc.url, TEST_SECRETS.OPERATOR_API_KEY)

    const aff = (await call()('POST', '/api/affiliates', { name: 'Windowed' })).body
    expect((await call()('POST', '/api/deals/cpa', { affiliateId: aff.id, amount: '10', currency: 'EUR' })).status).toBe(201)
    const code = (await call()('POST', '/api/links', { affiliateId: aff.id, destination: 'https://brand.example/?cid={click_id}' })).body.code
    const src = (await call()('POST', '/api/sources', { name: 'platform' })).body
    await new Promise((r) => setTimeout(r, 500))

    const click = async (ip: string, ua: string) => {
      for (let tries = 0; ; tries++) {
        const r = await fetch(`${ingest.url}/c/${code}`, { redirect: 'manual', headers: { 'user-agent': ua, 'x-forwarded-for': ip } })
        if (r.status === 302) return new URL(r.headers.get('location')!).searchParams.get('cid')!
        if (tries > 50) throw new Error(`click ${r.status}`)
        await new Promise((res) => setTimeout(res, 100))
      }
    }
    const post = async (body: Record<string, string>) => {
      for (let tries = 0; ; tries++) {
        const r = await fetch(`${ingest.url}/postback`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-postback-token': src.token },
          body: JSON.stringify({ source: String(src.id), ...body }),
        })
        if (r.status === 200) return `${src.id}:${body.event_id}`
        if (tries > 50) throw new Error(`postback ${r.status}: ${await r.text()}`)
        await new Promise((res) => setTimeout(res, 100))
      }
    }

    // kill the processor at random moments while it works through the stream
    const killer = killMidStream({
      kills: KILLS,
      maxDelayMs: 200,
      call,
      killAndRestart: async () => {
        await proc.kill()
        proc = await spawnApp({ env: procEnv, args: ['--tier', 'processor,query-api'], port })
      },
    })

    // all clicks inside one calendar minute (they take a few seconds): past its 40th second, start at the next
    await awayFromMinuteEdge(20_000)
    const minute = Math.floor(Date.now() / 60_000)
    const ua = (d: number) => `${BROWSER_UA} device/${d}`
    const clicksOf = new Map<number, string[]>()
    for (let i = 0; i < CLICKS; i++)
      for (let d = 0; d < DEVICES; d++) {
        const cid = await click(`84.130.${10 + d}.5`, ua(d))
        clicksOf.set(d, [...(clicksOf.get(d) ?? []), cid])
      }
    const sentIn = Math.floor(Date.now() / 60_000)
    // registrations (CTIT is off in tests) from shared addresses, and first deposits on shared cards
    const regsOf = new Map<number, string[]>()
    let p = 0
    for (let i = 0; i < REGS; i++)
      for (let a = 0; a < ADDRESSES; a++) {
        const cid = await click(`79.194.${a}.${i + 1}`, ua(100 + p))
        const id = await post({ event: 'registration', event_id: `r-${p}`, click_id: cid, player_id: `p-${p}`, ip: `91.64.200.${a + 1}` })
        regsOf.set(a, [...(regsOf.get(a) ?? []), id])
        p++
      }
    const cardsOf = new Map<number, string[]>()
    for (let i = 0; i < CARD_PLAYERS; i++)
      for (let c = 0; c < CARDS; c++) {
        const cid = await click(`87.123.${c}.${i + 1}`, ua(200 + p))
        await post({ event: 'registration', event_id: `r-${p}`, click_id: cid, player_id: `p-${p}` })
        const id = await post({ event: 'ftd', event_id: `f-${p}`, player_id: `p-${p}`, amount: '50', currency: 'EUR', payment_hash: `card-${c}` })
        cardsOf.set(c, [...(cardsOf.get(c) ?? []), id])
        p++
      }
    // keep the stream going until every kill has landed (loopback clicks: never counted per address)
    while (killer.killed() < KILLS) {
      await fetch(`${ingest.url}/c/${code}`, { redirect: 'manual', headers: { 'user-agent': BROWSER_UA } })
      await new Promise((r) => setTimeout(r, 20))
    }
    await killer.stop()
    expect(killer.killed()).toBe(KILLS)
    expect(sentIn, 'the clicks of the flood were all sent in one minute').toBe(minute)

    await waitFor(
      'caught up',
      async () => (await call()('GET', '/api/status')).body.processor.lag,
      (n: number) => n === 0,
      120_000,
    )
    const found = (await call()<{ items: Finding[] }>('GET', `/api/fraud/findings?affiliateId=${aff.id}&limit=1000`)).body.items
    const keyOf = (f: Finding) => `${f.eventId}|${f.reason}`
    expect(new Set(found.map(keyOf)).size, 'every finding once').toBe(found.length)

    const floods = new Set(found.filter((f) => f.reason === 'click_flood').map((f) => f.eventId))
    for (const [d, ids] of clicksOf)
      expect(
        ids.map((id) => floods.has(id)),
        `device ${d}`,
      ).toEqual(ids.map((_, i) => i >= 10))
    expect(floods.size).toBe(DEVICES * (CLICKS - 10))

    const multi = new Set(found.filter((f) => f.reason === 'multi_account').map((f) => f.eventId))
    for (const [a, ids] of regsOf)
      expect(
        ids.map((id) => multi.has(id)),
        `address ${a}`,
      ).toEqual(ids.map((_, i) => i >= 5))
    expect(multi.size).toBe(ADDRESSES * (REGS - 5))

    const shared = new Set(found.filter((f) => f.reason === 'shared_payment').map((f) => f.eventId))
    for (const [c, ids] of cardsOf)
      expect(
        ids.map((id) => shared.has(id)),
        `card ${c}`,
      ).toEqual(ids.map((_, i) => i >= 1))

    // the money follows the decisions: one held CPA per held player, nothing else held
    const lines = (await call()<{ items: { kind: string; status: string }[] }>('GET', `/api/ledger?affiliateId=${aff.id}&limit=1000`)).body.items
    expect(lines.filter((l) => l.kind === 'cpa' && l.status === 'held').length).toBe(CARDS * (CARD_PLAYERS - 1))
  }, 600_000)
})
