/**
 * The running system against the simulator: the same events, sent as clicks and postbacks
 * over HTTP to an embedded app, give the same ledger the simulator computes from a scenario
 * (the same line ids, amounts, reasons and hash chain heads); the chain verifies through the
 * API, and an affiliate reads and checks only its own ledger.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, waitFor, spawnEmbedded, type EmbeddedApp } from './helpers/app.js'
import { BROWSER_UA } from './helpers/scenario.js'
import { ScenarioSchema, simulate, type ScenarioInput } from '../processor/simulator.js'

let app: EmbeddedApp
beforeAll(async () => {
  app = await spawnEmbedded('commission')
}, 60_000)
afterAll(async () => {
  await app?.dispose()
})

type Line = { no: number; id: string; kind: string; amount: string; reason: string; hash: string; playerRef: string }

async function click(code: string): Promise<string> {
  const r = await fetch(`${app.url}/c/${code}`, { redirect: 'manual', headers: { 'user-agent': BROWSER_UA } })
  expect(r.status).toBe(302)
  return new URL(r.headers.get('location')!).searchParams.get('cid')!
}

describe('commission: the running system writes the simulator’s ledger', () => {
  const events: ScenarioInput['events'] = []
  const deals: ScenarioInput['deals'] = []
  const affs: number[] = []
  const codes = new Map<number, string>()
  let source: { id: number; token: string }

  async function send(body: Record<string, string>, scenario: Omit<ScenarioInput['events'][number], 'at' | 'id'>) {
    const at = new Date().toISOString()
    const r = await fetch(`${app.url}/postback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-postback-token': source.token },
      body: JSON.stringify({ source: String(source.id), occurred_at: at, ...body }),
    })
    expect(r.status, JSON.stringify(await r.clone().json())).toBe(200)
    events.push({ ...scenario, at, id: `${source.id}:${body.event_id}` })
  }

  beforeAll(async () => {
    const call = app.call
    for (const [name, amount, currency] of [
      ['Alpha', '100', 'EUR'],
      ['Beta', '37.55', 'USD'],
    ] as const) {
      const a = (await call('POST', '/api/affiliates', { name })).body
      affs.push(a.id)
      const link = (await call('POST', '/api/links', { affiliateId: a.id, destination: 'https://brand.example/?cid={click_id}' })).body
      const deal = (await call('POST', '/api/deals/cpa', { affiliateId: a.id, amount, currency })).body
      deals.push({ id: `cpa.${a.id}`, affiliateId: a.id, versions: [{ effectiveFrom: new Date(deal.versions[0].effectiveFrom).toISOString(), terms: { currency, cpa: { amount } } }] })
      codes.set(a.id, link.code)
    }
    source = (await call('POST', '/api/sources', { name: 'casino' })).body
    await new Promise((r) => setTimeout(r, 300)) // links and deals reach ingest and the processor through KV watches
    // five players: three for Alpha, two for Beta; one FTD reported twice, one player never deposits
    for (const [i, aff] of [affs[0]!, affs[1]!, affs[0]!, affs[1]!, affs[0]!].entries()) {
      const player = `pl-${i + 1}`
      const cid = await click(codes.get(aff)!)
      await send({ event: 'registration', event_id: `reg-${i + 1}`, click_id: cid, player_id: player }, { kind: 'registration', player, affiliate: aff })
      if (i === 4) continue
      await send({ event: 'ftd', event_id: `ftd-${i + 1}`, player_id: player, amount: '50', currency: 'EUR' }, { kind: 'ftd', player, amount: '50', currency: 'EUR' })
      if (i === 1) await send({ event: 'ftd', event_id: `ftd-${i + 1}-again`, player_id: player, amount: '70', currency: 'EUR' }, { kind: 'ftd', player, amount: '70', currency: 'EUR' })
    }
  }, 60_000)

  it('the same lines, amounts, reasons and chain heads as the simulator', async () => {
    const sim = simulate(ScenarioSchema.parse({ program: { currency: 'EUR' }, affiliates: affs.map((id) => ({ id })), deals, events }))
    for (const aff of affs) {
      const want = sim.lines.filter((l) => l.affiliateId === aff)
      expect(want.length).toBeGreaterThan(0)
      const got = await waitFor(
        `ledger of affiliate ${aff}`,
        async () => (await app.call<{ items: Line[] }>('GET', `/api/ledger?affiliateId=${aff}`)).body.items,
        (items) => items.length >= want.length,
        30_000,
      )
      expect(got.map((l) => [l.no, l.id, l.kind, l.amount, l.reason])).toEqual(want.map((l) => [l.no, l.id, l.kind, l.amount, l.reason]))
      expect(got.map((l) => l.hash)).toEqual(want.map((l) => l.hash))
      expect(got.at(-1)!.hash).toBe(sim.heads[String(aff)])
      // the display pseudonym, not the platform's player id
      expect(got.every((l) => /^[0-9a-f]{32}$/.test(l.playerRef))).toBe(true)
    }
    // Alpha: 2 × 100 EUR (pl-5 never deposited); Beta: 2 × 37.55 USD (pl-2's second FTD earns nothing)
    expect(sim.totals[String(affs[0])]!).toMatchObject({ [Object.keys(sim.totals[String(affs[0])]!)[0]!]: { total: '200.00', currency: 'EUR' } })
    expect(Object.values(sim.totals[String(affs[1])]!)[0]).toMatchObject({ total: '75.10', currency: 'USD' })
  })

  it('the chain verifies through the API', async () => {
    for (const aff of affs) {
      const r = await app.call('GET', `/api/ledger/verify?affiliateId=${aff}`)
      expect(r.status).toBe(200)
      expect(r.body).toMatchObject({ affiliateId: aff, ok: true, lines: 2 })
    }
  })

  it('an affiliate reads and checks its own ledger, never another’s', async () => {
    const token = (await app.call('POST', `/api/affiliates/${affs[0]}/tokens`, {})).body.token
    const aff = api(app.url, token)
    const own = await aff<{ items: Line[] }>('GET', '/api/ledger')
    expect(own.status).toBe(200)
    expect(own.body.items).toHaveLength(2)
    expect((await aff('GET', `/api/ledger?affiliateId=${affs[1]}`)).status).toBe(403)
    expect((await aff('GET', `/api/ledger/verify?affiliateId=${affs[1]}`)).status).toBe(403)
    expect((await aff('GET', '/api/ledger/verify')).body).toMatchObject({ ok: true, lines: 2 })
    expect((await app.call('GET', '/api/ledger')).status).toBe(400)
  })

  it('a redone batch writes no second line: the status shows every fact applied once', async () => {
    const s = (await app.call('GET', '/api/status')).body
    expect(s.affiliateStage).toMatchObject({ lag: 0, failure: null, lines: 4 })
    expect(s.processor.accruals).toBe(4)
  })
})
