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
    // Gamma: a composed deal: $5 CPL, a $100 CPA for a first deposit of at least 20 EUR, 30% RevShare
    const g = (await call('POST', '/api/affiliates', { name: 'Gamma' })).body
    affs.push(g.id)
    codes.set(g.id, (await call('POST', '/api/links', { affiliateId: g.id, destination: 'https://brand.example/?cid={click_id}' })).body.code)
    const terms = { currency: 'EUR', cpl: { amount: '5' }, cpa: { amount: '100', qualification: { minFirstDeposit: '20' } }, revshare: { bands: [{ from: '0', rate: '0.30' }] } }
    const composed = await call('POST', '/api/deals', { name: 'Gamma hybrid', affiliateId: g.id, terms })
    expect(composed.status, JSON.stringify(composed.body)).toBe(201)
    deals.push({ id: composed.body.id, affiliateId: g.id, versions: [{ effectiveFrom: new Date(composed.body.versions[0].effectiveFrom).toISOString(), terms }] })
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
    // Gamma's players: one qualifies and plays, one deposits too little, then loses
    const gamma = affs[2]!
    for (const [player, ftd] of [
      ['gm-1', '25'],
      ['gm-2', '10'],
    ] as const) {
      const cid = await click(codes.get(gamma)!)
      await send({ event: 'registration', event_id: `reg-${player}`, click_id: cid, player_id: player }, { kind: 'registration', player, affiliate: gamma })
      await send({ event: 'ftd', event_id: `ftd-${player}`, player_id: player, amount: ftd, currency: 'EUR' }, { kind: 'ftd', player, amount: ftd, currency: 'EUR' })
    }
    const date = new Date().toISOString().slice(0, 10)
    await send({ event: 'activity', event_id: 'act-1', player_id: 'gm-1', currency: 'EUR', date, bets: '400', wins: '150', bonuses: '10' }, { kind: 'activity', player: 'gm-1', currency: 'EUR', details: { date, bets: '400', wins: '150', bonuses: '10' } })
    await send({ event: 'activity', event_id: 'act-2', player_id: 'gm-2', currency: 'EUR', date, bets: '50', wins: '120' }, { kind: 'activity', player: 'gm-2', currency: 'EUR', details: { date, bets: '50', wins: '120' } })
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
    // Gamma: 2 × 5 CPL + 100 CPA + 30% × (240 − 70) NGR = 161
    expect(Object.values(sim.totals[String(affs[2])]!)[0]).toMatchObject({ total: '161.00', currency: 'EUR' })
  })

  it("what-if: the affiliate's real events under proposed terms, beside what its ledger holds", async () => {
    const gamma = affs[2]!
    const day = new Date().toISOString().slice(0, 10)
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)
    const proposed = { currency: 'EUR', cpa: { amount: '200', qualification: { minFirstDeposit: '20' } }, revshare: { bands: [{ from: '0', rate: '0.50' }] } }
    const r = await app.call('POST', '/api/deals/simulate', { affiliateId: gamma, terms: proposed, from: day, to: tomorrow })
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.body.events).toBe(6) // 2 registrations, 2 FTDs, 2 activities
    const [period] = Object.keys(r.body.proposed)
    // 200 CPA (gm-1 qualifies, gm-2 deposited 10) + 50% × (240 − 70) NGR; no CPL in the proposal
    expect(r.body.proposed[period!]).toMatchObject({ total: '285.00', currency: 'EUR' })
    // what the ledger holds: 2 × 5 CPL + 100 CPA + 30% × 170
    expect(r.body.actual).toEqual([{ period: period!, currency: 'EUR', amount: '161' }])
    expect(r.body.lines.length).toBeGreaterThan(0)
    // bad terms say what is wrong; an affiliate may not ask
    const bad = await app.call('POST', '/api/deals/simulate', { affiliateId: gamma, terms: { currency: 'EUR', revshare: { bands: [{ from: '0', rate: '2' }] } }, from: day, to: tomorrow })
    expect(bad.status).toBe(400)
    expect(bad.body.fields).toHaveProperty(['terms.revshare.bands.0.rate'])
    expect((await app.call('POST', '/api/deals/simulate', { affiliateId: gamma, terms: proposed, from: tomorrow, to: day })).status).toBe(400)
    const token = (await app.call('POST', `/api/affiliates/${gamma}/tokens`, {})).body.token
    expect((await api(app.url, token)('POST', '/api/deals/simulate', { affiliateId: gamma, terms: proposed, from: day, to: tomorrow })).status).toBe(403)
  })

  it('the chain verifies through the API', async () => {
    for (const [aff, lines] of [
      [affs[0], 2],
      [affs[1], 2],
      [affs[2], 5],
    ]) {
      const r = await app.call('GET', `/api/ledger/verify?affiliateId=${aff}`)
      expect(r.status).toBe(200)
      expect(r.body).toMatchObject({ affiliateId: aff, ok: true, lines })
    }
  })

  it('the commission views: the overview by deal and period, live earnings with the RevShare balance, and each player from deposits to commission', async () => {
    const gamma = affs[2]!
    const month = new Date().toISOString().slice(0, 7)
    await waitFor('every fact applied', async () => (await app.call('GET', '/api/status')).body.affiliateStage.lines, (n: number) => n >= 9, 30_000)
    const ov = await app.call('GET', '/api/commission/overview')
    expect(ov.status).toBe(200)
    const g = ov.body.items.filter((r: { affiliateId: number }) => r.affiliateId === gamma)
    // 2 × 5 CPL + 100 CPA + 30% × 170 NGR, all payable (no hold)
    expect(g).toEqual([
      { affiliateId: gamma, affiliate: 'Gamma', dealId: deals[2]!.id, deal: 'Gamma hybrid', brandId: null, brand: null, period: month, currency: 'EUR', accrued: '161', payable: '161', pending: '0', held: '0', lines: 5 },
    ])
    expect(ov.body.items.filter((r: { affiliateId: number }) => r.affiliateId === affs[1]).map((r: { accrued: string; currency: string }) => [r.accrued, r.currency])).toEqual([['75.1', 'USD']])
    expect((await app.call('GET', `/api/commission/overview?period=${month}&affiliateId=${gamma}`)).body.items).toHaveLength(1)
    expect((await app.call('GET', '/api/commission/overview?period=2026-13')).status).toBe(400)

    const earn = await app.call('GET', `/api/commission/earnings?affiliateId=${gamma}`)
    expect(earn.status).toBe(200)
    expect(earn.body.byCurrency).toEqual([{ currency: 'EUR', today: '161', thisMonth: '161', pending: '0', held: '0' }])
    // the running balance: this month's NGR 240 − 70 pays 30%
    expect(earn.body.revshare).toEqual([{ dealId: deals[2]!.id, deal: 'Gamma hybrid', currency: 'EUR', carryover: true, periods: [{ period: month, ngr: '170', carriedIn: '0', net: '170', pays: '51', adminFee: '0' }] }])
    expect((await app.call('GET', '/api/commission/earnings')).status).toBe(400)

    const pl = await app.call('GET', `/api/commission/players?affiliateId=${gamma}&month=${month}`)
    expect(pl.status).toBe(200)
    const byNgr = [...pl.body.items].sort((a: { money: { ngr: string }[] }, b: { money: { ngr: string }[] }) => Number(b.money[0]!.ngr) - Number(a.money[0]!.ngr))
    // gm-1: FTD 25, bets 400 − wins 150 = GGR 250, − bonus 10 = NGR 240; CPL 5 + CPA 100 + 30% × 240
    // gm-2: FTD 10, GGR = NGR = −70; CPL 5, and the RevShare it took back (51 − 72)
    expect(byNgr.map((p: { money: unknown; commission: unknown }) => [p.money, p.commission])).toEqual([
      [[{ currency: 'EUR', deposits: '25', ggr: '250', ngr: '240' }], [{ currency: 'EUR', amount: '177', lines: 3 }]],
      [[{ currency: 'EUR', deposits: '10', ggr: '-70', ngr: '-70' }], [{ currency: 'EUR', amount: '-16', lines: 2 }]],
    ])
    expect(pl.body.items.every((p: { player: string }) => /^[0-9a-f]{32}$/.test(p.player))).toBe(true)

    // an affiliate sees its own, never another's
    const token = (await app.call('POST', `/api/affiliates/${gamma}/tokens`, {})).body.token
    const aff = api(app.url, token)
    expect((await aff('GET', '/api/commission/overview')).body.items.map((r: { affiliateId: number }) => r.affiliateId)).toEqual([gamma])
    expect((await aff('GET', '/api/commission/earnings')).body.byCurrency[0].thisMonth).toBe('161')
    expect((await aff('GET', '/api/commission/players')).body.items).toHaveLength(2)
    for (const path of ['/api/commission/overview', '/api/commission/earnings', '/api/commission/players']) expect((await aff('GET', `${path}?affiliateId=${affs[0]}`)).status).toBe(403)
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
    expect(s.affiliateStage).toMatchObject({ lag: 0, failure: null, lines: 9 })
    // 4 flat CPAs; Gamma: 2 registrations, 1 qualification, 2 revenue facts
    expect(s.processor.accruals).toBe(9)
  })
})

describe('the deal API', () => {
  const terms = { currency: 'USD', cpa: { amount: '50', holdDays: 14 }, revshare: { bands: [{ from: '0', rate: '0.25' }, { from: '10000', rate: '0.35' }], mode: 'ladder' } }

  it('creates a composed deal, adds a version, and lists both with every version', async () => {
    const a = (await app.call('POST', '/api/affiliates', { name: 'Delta' })).body
    const created = await app.call('POST', '/api/deals', { name: 'Delta hybrid', affiliateId: a.id, terms })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ id: expect.stringMatching(/^d\d+$/), name: 'Delta hybrid', affiliateId: a.id, versions: [{ version: 1, terms: { cpa: { amount: '50', holdDays: 14 }, revshare: { mode: 'ladder', carryover: true } } }] })
    const later = new Date(Date.now() + 86_400_000).toISOString()
    const v2 = await app.call('POST', `/api/deals/${created.body.id}/versions`, { effectiveFrom: later, terms: { ...terms, cpa: { amount: '60' } } })
    expect(v2.status).toBe(201)
    expect(v2.body.versions.map((v: { version: number }) => v.version)).toEqual([1, 2])
    const listed = (await app.call('GET', '/api/deals')).body.items.find((d: { id: string }) => d.id === created.body.id)
    expect(listed.versions).toHaveLength(2)
    // the affiliate sees its deal with every version, and no one else's
    const token = (await app.call('POST', `/api/affiliates/${a.id}/tokens`, {})).body.token
    const own = (await api(app.url, token)('GET', '/api/deals')).body.items
    expect(own.map((d: { id: string }) => d.id)).toEqual([created.body.id])
    expect((await api(app.url, token)('POST', '/api/deals', { name: 'mine', affiliateId: a.id, terms })).status).toBe(403)
  })

  it.each([
    ['a rate above 1', { ...terms, revshare: { bands: [{ from: '0', rate: '1.2' }] } }, 'terms.revshare.bands.0.rate'],
    ['a currency outside ISO 4217', { ...terms, currency: 'QQQ' }, 'terms.currency'],
    ['an amount no decimal string can hold', { ...terms, cpa: { amount: 1e50 } }, 'terms.cpa.amount'],
    ['no model', { currency: 'USD' }, 'terms'],
    ['an unknown term', { ...terms, bonus: true }, 'terms'],
  ])('refuses %s with a 400 naming the field', async (_n, bad, field) => {
    const a = (await app.call('POST', '/api/affiliates', { name: 'Epsilon' })).body
    const r = await app.call('POST', '/api/deals', { name: 'bad', affiliateId: a.id, terms: bad })
    expect(r.status).toBe(400)
    expect(Object.keys(r.body.fields ?? {}).join(' ')).toContain(field)
  })

  it('refuses an unknown affiliate, a new version in the past, and a version for a deal that does not exist; a new deal may start in the past', async () => {
    expect((await app.call('POST', '/api/deals', { name: 'x', affiliateId: 999_999, terms })).status).toBe(400)
    const a = (await app.call('POST', '/api/affiliates', { name: 'Zeta' })).body
    const backdated = await app.call('POST', '/api/deals', { name: 'x', affiliateId: a.id, effectiveFrom: '2020-01-01T00:00:00Z', terms })
    expect(backdated.status).toBe(201)
    const past = await app.call('POST', `/api/deals/${backdated.body.id}/versions`, { effectiveFrom: '2020-02-01T00:00:00Z', terms })
    expect(past.status).toBe(400)
    expect(past.body.fields).toMatchObject({ effectiveFrom: 'must not be in the past' })
    expect((await app.call('POST', '/api/deals/d999999/versions', { terms })).status).toBe(404)
    expect((await app.call('POST', '/api/deals/cpa.1/versions', { terms })).status).toBe(400)
  })
})

describe('deals for a group of affiliates', () => {
  it("pay every affiliate in the group when the event happened; an affiliate's own deal comes first; each sees the group's deal", async () => {
    const mk = async (name: string, group?: string) => (await app.call('POST', '/api/affiliates', { name, ...(group ? { group } : {}) })).body as { id: number; group?: string }
    const [g1, g2, own, out] = [await mk('Iota', 'vip-2'), await mk('Kappa', 'vip-2'), await mk('Mu', 'vip-2'), await mk('Nu')]
    expect(g1.group).toBe('vip-2')
    const deal = await app.call('POST', '/api/deals', { name: 'VIP CPA', group: 'vip-2', terms: { currency: 'EUR', cpa: { amount: '120' } } })
    expect(deal.status).toBe(201)
    expect(deal.body).toMatchObject({ group: 'vip-2' })
    expect(deal.body.affiliateId).toBeUndefined()
    expect((await app.call('POST', '/api/deals', { name: 'Mu own', affiliateId: own.id, terms: { currency: 'EUR', cpa: { amount: '70' } } })).status).toBe(201)
    // Nu joins the group only after its first player
    const src = (await app.call('POST', '/api/sources', { name: 'group casino' })).body
    const codes = new Map<number, string>()
    for (const a of [g1, g2, own, out]) codes.set(a.id, (await app.call('POST', '/api/links', { affiliateId: a.id, destination: 'https://brand.example/?cid={click_id}' })).body.code)
    await new Promise((r) => setTimeout(r, 300))
    const post = async (body: Record<string, string>) => {
      const r = await fetch(`${app.url}/postback`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-postback-token': src.token }, body: JSON.stringify({ source: String(src.id), ...body }) })
      expect(r.status, await r.clone().text()).toBe(200)
    }
    const player = async (a: number, p: string) => {
      await post({ event: 'registration', event_id: `r-${p}`, click_id: await click(codes.get(a)!), player_id: p })
      await post({ event: 'ftd', event_id: `f-${p}`, player_id: p, amount: '40', currency: 'EUR' })
    }
    await player(g1.id, 'grp-1')
    await player(g2.id, 'grp-2')
    await player(own.id, 'grp-3')
    await player(out.id, 'grp-4')
    const cpaOf = (a: number) => async () => (await app.call<{ items: { kind: string; amount: string; dealId: string }[] }>('GET', `/api/ledger?affiliateId=${a}`)).body.items
    await waitFor('the first three CPAs', cpaOf(own.id), (l) => l.length >= 1, 20_000)
    await waitFor('the first three CPAs', cpaOf(g2.id), (l) => l.length >= 1, 20_000)
    const joined = await app.call('PATCH', `/api/affiliates/${out.id}`, { group: 'vip-2' })
    expect(joined.status).toBe(200)
    expect(joined.body.groupHistory.map((h: { group: string | null }) => h.group)).toEqual([null, 'vip-2'])
    await new Promise((r) => setTimeout(r, 300))
    await player(out.id, 'grp-5')
    await waitFor("Nu's CPA after it joined", cpaOf(out.id), (l) => l.length >= 1, 20_000)
    expect((await cpaOf(g1.id)()).map((l) => [l.amount, l.dealId])).toEqual([['120', deal.body.id]])
    expect((await cpaOf(g2.id)()).map((l) => [l.amount, l.dealId])).toEqual([['120', deal.body.id]])
    expect((await cpaOf(own.id)()).map((l) => l.amount)).toEqual(['70'])
    // its first player came before it joined: nothing; its second, after: the group's CPA
    expect((await cpaOf(out.id)()).map((l) => [l.amount, l.dealId])).toEqual([['120', deal.body.id]])
    // each affiliate sees the deals that apply to it: its own and its group's
    const dealsOf = async (a: number) => ((await app.call('GET', `/api/deals?affiliateId=${a}`)).body.items as { name: string }[]).map((d) => d.name).sort()
    expect(await dealsOf(own.id)).toEqual(['Mu own', 'VIP CPA'])
    expect(await dealsOf(out.id)).toEqual(['VIP CPA'])
    const token = (await app.call('POST', `/api/affiliates/${g1.id}/tokens`, {})).body.token
    expect(((await api(app.url, token)('GET', '/api/deals')).body.items as { name: string }[]).map((d) => d.name)).toEqual(['VIP CPA'])
    expect((await api(app.url, token)('GET', `/api/deals?affiliateId=${own.id}`)).status).toBe(403)
    expect(((await app.call('GET', '/api/affiliates?group=vip-2')).body.items as { name: string }[]).map((a) => a.name).sort()).toEqual(['Iota', 'Kappa', 'Mu', 'Nu'])
  })

  it.each([
    ['neither an affiliate nor a group', {}, 'affiliateId'],
    ['both', { affiliateId: 1, group: 'vip' }, 'group'],
    ['a group name with capitals and spaces', { group: 'Top Partners' }, 'group'],
  ])('refuses a deal for %s, naming the field', async (_n, who, field) => {
    const r = await app.call('POST', '/api/deals', { name: 'x', ...who, terms: { currency: 'EUR', cpa: { amount: '1' } } })
    expect(r.status).toBe(400)
    expect(Object.keys(r.body.fields ?? {})).toContain(field)
  })

  it('refuses a bad group name for an affiliate', async () => {
    const r = await app.call('POST', '/api/affiliates', { name: 'Xi', group: 'VIP!' })
    expect(r.status).toBe(400)
    expect(r.body.fields).toHaveProperty('group')
  })
})

describe('FX rates', () => {
  it('are recorded once per pair and day, and convert what happens on that day at that rate', async () => {
    const day = new Date().toISOString().slice(0, 10)
    const first = await app.call('POST', '/api/fx', { rates: [{ date: day, from: 'EUR', to: 'USD', rate: '1.25' }] })
    expect(first.status).toBe(201)
    expect(first.body).toEqual({ recorded: 1, unchanged: 0 })
    // the same again changes nothing; another rate for that day is refused: a line may have used it
    expect((await app.call('POST', '/api/fx', { rates: [{ date: day, from: 'eur', to: 'usd', rate: '1.250' }] })).body).toEqual({ recorded: 0, unchanged: 1 })
    const changed = await app.call('POST', '/api/fx', { rates: [{ date: day, from: 'EUR', to: 'USD', rate: '1.30' }] })
    expect(changed.status).toBe(409)
    expect(changed.body.reason).toMatch(/write-once/)
    expect((await app.call('POST', '/api/fx', { rates: [{ date: day, from: 'QQQ', to: 'USD', rate: '1' }] })).status).toBe(400)
    expect((await app.call('POST', '/api/fx', { rates: [{ date: day, from: 'EUR', to: 'USD', rate: '0' }] })).status).toBe(400)
    expect((await app.call('GET', '/api/fx?from=EUR')).body.items).toEqual([expect.objectContaining({ date: day, from: 'EUR', to: 'USD', rate: '1.25' })])

    // the CSV import (npm run import -- fx rates.csv) sends rows like these
    const imported = await app.call('POST', '/api/import/fx', {
      firstRow: 2,
      rows: [
        { date: '2026-01-02', from: 'GBP', to: 'USD', rate: '1.27' },
        { date: day, from: 'EUR', to: 'USD', rate: '1.25' },
        { date: day, from: 'EUR', to: 'USD', rate: '1.31' },
        { date: '2026-02-30', from: 'GBP', to: 'USD', rate: '1.27' },
      ],
    })
    expect(imported.body.results).toEqual([
      { row: 2, action: 'create' },
      { row: 3, action: 'exists' },
      { row: 4, action: 'error', error: expect.stringMatching(/recorded as 1.25; rates are write-once/) },
      { row: 5, action: 'error', error: expect.stringMatching(/^date /) },
    ])

    // a USD deal, a player who plays in EUR
    const a = (await app.call('POST', '/api/affiliates', { name: 'Eta' })).body
    const code = (await app.call('POST', '/api/links', { affiliateId: a.id, destination: 'https://brand.example/?cid={click_id}' })).body.code
    expect((await app.call('POST', '/api/deals', { name: 'Eta RS', affiliateId: a.id, terms: { currency: 'USD', revshare: { bands: [{ from: '0', rate: '0.30' }] } } })).status).toBe(201)
    const src = (await app.call('POST', '/api/sources', { name: 'eu casino' })).body
    await new Promise((r) => setTimeout(r, 300))
    const post = (body: Record<string, string>) =>
      fetch(`${app.url}/postback`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-postback-token': src.token }, body: JSON.stringify({ source: String(src.id), ...body }) })
    expect((await post({ event: 'registration', event_id: 'r1', click_id: await click(code), player_id: 'eu-1' })).status).toBe(200)
    expect((await post({ event: 'activity', event_id: 'a1', player_id: 'eu-1', currency: 'EUR', date: day, bets: '100' })).status).toBe(200)
    const lines = await waitFor(
      'the RevShare line',
      async () => (await app.call<{ items: { kind: string; amount: string; currency: string; fxRate: string; fxDate: string; originalAmount: string; originalCurrency: string }[] }>('GET', `/api/ledger?affiliateId=${a.id}`)).body.items,
      (items) => items.length > 0,
      20_000,
    )
    expect(lines).toEqual([expect.objectContaining({ kind: 'revshare', amount: '37.5', currency: 'USD', fxRate: '1.25', fxDate: day, originalAmount: '100', originalCurrency: 'EUR' })])
  })
})

describe('player status', () => {
  it('a player reported KYC-failed in the hold loses the CPA; a status needs one of the known values', async () => {
    const a = (await app.call('POST', '/api/affiliates', { name: 'Theta' })).body
    const code = (await app.call('POST', '/api/links', { affiliateId: a.id, destination: 'https://brand.example/?cid={click_id}' })).body.code
    const deal = await app.call('POST', '/api/deals', { name: 'Theta CPA', affiliateId: a.id, terms: { currency: 'EUR', cpa: { amount: '100', holdDays: 30 } } })
    expect(deal.status).toBe(201)
    const src = (await app.call('POST', '/api/sources', { name: 'kyc casino' })).body
    await new Promise((r) => setTimeout(r, 300))
    const post = async (body: Record<string, string>) => {
      const r = await fetch(`${app.url}/postback`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-postback-token': src.token }, body: JSON.stringify({ source: String(src.id), ...body }) })
      return { status: r.status, body: (await r.json()) as { fields?: Record<string, string> } }
    }
    expect((await post({ event: 'registration', event_id: 'r', click_id: await click(code), player_id: 'k-1' })).status).toBe(200)
    expect((await post({ event: 'ftd', event_id: 'f', player_id: 'k-1', amount: '50', currency: 'EUR' })).status).toBe(200)
    const missing = await post({ event: 'player_status', event_id: 's0', player_id: 'k-1' })
    expect(missing.status).toBe(400)
    expect(missing.body.fields).toMatchObject({ status: 'is required for a player status' })
    const wrong = await post({ event: 'player_status', event_id: 's1', player_id: 'k-1', status: 'banned' })
    expect(wrong.status).toBe(400)
    expect(wrong.body.fields?.status).toMatch(/kyc_failed, self_excluded, duplicate/)
    expect((await post({ event: 'player_status', event_id: 's2', player_id: 'k-1', status: 'kyc_failed' })).status).toBe(200)
    const lines = await waitFor(
      'the reversal',
      async () => (await app.call<{ items: { kind: string; amount: string; status: string; refLineId?: string; id: string; reason: string }[] }>('GET', `/api/ledger?affiliateId=${a.id}`)).body.items,
      (items) => items.length >= 2,
      20_000,
    )
    expect(lines.map((l) => [l.kind, l.status, l.amount])).toEqual([
      ['cpa', 'pending', '100'],
      ['reversal', 'reversed', '-100'],
    ])
    expect(lines[1]!.refLineId).toBe(lines[0]!.id)
    expect(lines[1]!.reason).toMatch(/failed KYC/)
    // the reversal counts where the CPA did: nothing stays pending
    const ov = (await app.call('GET', `/api/commission/overview?affiliateId=${a.id}`)).body.items
    expect(ov).toMatchObject([{ accrued: '0', payable: '0', pending: '0', held: '0', lines: 2 }])
    expect((await app.call('GET', `/api/commission/earnings?affiliateId=${a.id}`)).body.byCurrency).toMatchObject([{ currency: 'EUR', pending: '0', held: '0' }])
  })
})

describe('a suspended affiliate', () => {
  it('keeps its conversions, and what they earn is held with the reason affiliate_suspended; the affiliate sees the change in its history', async () => {
    const a = (await app.call('POST', '/api/affiliates', { name: 'Iota' })).body
    const code = (await app.call('POST', '/api/links', { affiliateId: a.id, destination: 'https://brand.example/?cid={click_id}' })).body.code
    expect((await app.call('POST', '/api/deals', { name: 'Iota CPA', affiliateId: a.id, terms: { currency: 'EUR', cpa: { amount: '80' } } })).status).toBe(201)
    const src = (await app.call('POST', '/api/sources', { name: 'iota casino' })).body
    await new Promise((r) => setTimeout(r, 300))
    const post = (body: Record<string, string>) =>
      fetch(`${app.url}/postback`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-postback-token': src.token }, body: JSON.stringify({ source: String(src.id), ...body }) })
    const cid = await click(code)
    const suspended = await app.call('PATCH', `/api/affiliates/${a.id}`, { status: 'suspended' })
    expect(suspended.status).toBe(200)
    expect(suspended.body.statusHistory.map((h: { status: string }) => h.status)).toEqual(['active', 'suspended'])
    await new Promise((r) => setTimeout(r, 300))
    expect((await post({ event: 'registration', event_id: 'r', click_id: cid, player_id: 'i-1' })).status).toBe(200)
    expect((await post({ event: 'ftd', event_id: 'f', player_id: 'i-1', amount: '50', currency: 'EUR' })).status).toBe(200)
    const lines = await waitFor(
      'the held CPA',
      async () => (await app.call<{ items: { kind: string; amount: string; status: string; reason: string }[] }>('GET', `/api/ledger?affiliateId=${a.id}`)).body.items,
      (items) => items.length > 0,
      20_000,
    )
    expect(lines).toEqual([expect.objectContaining({ kind: 'cpa', amount: '80', status: 'held', reason: expect.stringMatching(/^Held \(affiliate_suspended\)/) })])
    // the conversion itself is attributed as ever
    const rows = (await app.call('GET', `/api/events?affiliateId=${a.id}&kind=ftd`)).body.items
    expect(rows).toEqual([expect.objectContaining({ status: 'attributed', reason: 'first_deposit' })])
  })
})

describe('a cookieless first deposit', () => {
  it('joins its player when the registration names both: the wagering after it qualifies one CPA, whichever came first', async () => {
    const a = (await app.call('POST', '/api/affiliates', { name: 'Lambda' })).body
    const code = (await app.call('POST', '/api/links', { affiliateId: a.id, destination: 'https://brand.example/?cid={click_id}' })).body.code
    const terms = { currency: 'EUR', cpa: { amount: '90', qualification: { minFirstDeposit: '20', minWagering: '100' } } }
    expect((await app.call('POST', '/api/deals', { name: 'Lambda wagering CPA', affiliateId: a.id, terms })).status).toBe(201)
    const src = (await app.call('POST', '/api/sources', { name: 'lambda casino' })).body
    await new Promise((r) => setTimeout(r, 300))
    const post = async (body: Record<string, string>) => {
      const r = await fetch(`${app.url}/postback`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-postback-token': src.token }, body: JSON.stringify({ source: String(src.id), ...body }) })
      expect(r.status, await r.clone().text()).toBe(200)
    }
    const date = new Date().toISOString().slice(0, 10)
    // player l-1: the FTD by click alone, then the registration with both, then play
    const c1 = await click(code)
    await post({ event: 'ftd', event_id: 'f1', click_id: c1, amount: '50', currency: 'EUR' })
    await post({ event: 'registration', event_id: 'r1', click_id: c1, player_id: 'l-1' })
    await post({ event: 'activity', event_id: 'a1', player_id: 'l-1', currency: 'EUR', date, bets: '160', wins: '40' })
    // player l-2: the registration first, then the FTD by click alone, then play
    const c2 = await click(code)
    await post({ event: 'registration', event_id: 'r2', click_id: c2, player_id: 'l-2' })
    await post({ event: 'ftd', event_id: 'f2', click_id: c2, amount: '30', currency: 'EUR' })
    await post({ event: 'activity', event_id: 'a2', player_id: 'l-2', currency: 'EUR', date, bets: '120', wins: '0' })
    const lines = await waitFor(
      'two CPAs',
      async () => (await app.call<{ items: { kind: string; amount: string; reason: string; playerKey: string }[] }>('GET', `/api/ledger?affiliateId=${a.id}`)).body.items,
      (items) => items.filter((l) => l.kind === 'cpa').length >= 2,
      20_000,
    )
    expect(lines.map((l) => [l.kind, l.amount])).toEqual([
      ['cpa', '90'],
      ['cpa', '90'],
    ])
    expect(lines[0]!.reason).toMatch(/FTD 50\.00 EUR ≥ 20\.00 EUR, wagering 160\.00 EUR ≥ 100\.00 EUR/)
    expect(lines[1]!.reason).toMatch(/FTD 30\.00 EUR ≥ 20\.00 EUR, wagering 120\.00 EUR ≥ 100\.00 EUR/)
    expect(new Set(lines.map((l) => l.playerKey)).size).toBe(2)
    const s = (await app.call('GET', '/api/status')).body
    expect(s.processor.counts['join.taken_over']).toBe(1)
    expect(s.processor.counts['join.followed']).toBeGreaterThanOrEqual(1)
    // each player is one row of the breakdown, under one pseudonym, its money and its CPA together
    const players = (await app.call('GET', `/api/commission/players?affiliateId=${a.id}`)).body.items as { money: { deposits: string }[]; commission: { amount: string }[] }[]
    expect(players.map((p) => [p.money.map((m) => m.deposits), p.commission.map((c) => c.amount)]).sort()).toEqual([
      [['30'], ['90']],
      [['50'], ['90']],
    ])
  })
})
