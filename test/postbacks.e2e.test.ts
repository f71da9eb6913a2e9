/**
 * Every event kind end to end through the embedded app: postbacks from a token source and
 * from an HMAC source with its own parameter names → the stream → the processor → the
 * `events` table, read back through GET /api/events (the conversion log). Later events are
 * attributed through the registration's binding; an event of an unknown player shows in
 * the unattributed report with its reason; an affiliate sees only its own rows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signPostback } from '../ingest/postbacks.js'
import { api, spawnEmbedded, waitFor, type EmbeddedApp } from './helpers/app.js'

let app: EmbeddedApp
let call: EmbeddedApp['call']
let aff: { id: number }
let other: { id: number }
let tokenSource: { id: number; token: string }
let hmacSource: { id: number; secret: string }
let clickId: string

beforeAll(async () => {
  app = await spawnEmbedded('pb-e2e')
  call = app.call
  aff = (await call('POST', '/api/affiliates', { name: 'Partner A' })).body
  other = (await call('POST', '/api/affiliates', { name: 'Partner B' })).body
  const link = (await call('POST', '/api/links', { affiliateId: aff.id, destination: 'https://casino.example/?c={click_id}' })).body
  const otherLink = (await call('POST', '/api/links', { affiliateId: other.id, destination: 'https://casino.example/?c={click_id}' })).body
  tokenSource = (await call('POST', '/api/sources', { name: 'casino platform' })).body
  const h = await call('POST', '/api/sources', {
    name: 'broker back office',
    auth: 'hmac',
    fieldMap: { player_id: 'client', event_id: 'ref', event: 'action' },
    eventMap: { dep: 'deposit', wd: 'withdrawal' },
  })
  expect(h.status).toBe(201)
  hmacSource = h.body
  await new Promise((r) => setTimeout(r, 300))
  const r = await fetch(`${app.url}/c/${link.code}?sub1=spring`, { redirect: 'manual', headers: { 'user-agent': IPHONE } })
  clickId = new URL(r.headers.get('location')!).searchParams.get('c')!
  const r2 = await fetch(`${app.url}/c/${otherLink.code}`, { redirect: 'manual' })
  const otherClick = new URL(r2.headers.get('location')!).searchParams.get('c')!
  await postToken({ event: 'registration', event_id: 'reg-other', player_id: 'P-OTHER', click_id: otherClick })
}, 120_000)

afterAll(async () => {
  await app?.dispose()
})

async function postToken(body: Record<string, unknown>) {
  const r = await fetch(`${app.url}/postback`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-postback-token': tokenSource.token },
    body: JSON.stringify({ source: tokenSource.id, ...body }),
  })
  expect(r.status, await r.clone().text()).toBe(200)
}

async function postSigned(body: Record<string, unknown>) {
  const raw = JSON.stringify({ source: hmacSource.id, ...body })
  const ts = String(Math.floor(Date.now() / 1000))
  const r = await fetch(`${app.url}/postback`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-timestamp': ts, 'x-signature': signPostback(hmacSource.secret, ts, raw) },
    body: raw,
  })
  expect(r.status, await r.clone().text()).toBe(200)
}

const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1'

type Row = { device?: string; os?: string; browser?: string; isBot?: boolean; country?: string; kind: string; eventId: string; status: string; reason: string; affiliateId: number; amount: string; currency: string; details: Record<string, string>; ip?: string; sub: Record<string, string> }

describe('every event kind, end to end', () => {
  it('attributes each later event through the binding and stores its fields', async () => {
    await postToken({ event: 'registration', event_id: 'reg-1', player_id: 'P-1', click_id: clickId })
    await postToken({ event: 'ftd', event_id: 'ftd-1', player_id: 'P-1', amount: '100', currency: 'EUR' })
    await postSigned({ action: 'dep', ref: 'dep-1', client: 'P-1', amount: '250.75', currency: 'EUR' })
    await postSigned({ action: 'wd', ref: 'wd-1', client: 'P-1', amount: '80', currency: 'EUR' })
    await postToken({ event: 'activity', event_id: 'act-1', player_id: 'P-1', date: '2026-11-23', bets: '1000', wins: '850.5', bonuses: '20', currency: 'EUR' })
    await postToken({ event: 'trade', event_id: 'tr-1', player_id: 'P-1', instrument: 'EURUSD', lots: '57.7', spread: '10', currency: 'USD' })
    await postToken({ event: 'challenge_purchase', event_id: 'ch-1', player_id: 'P-1', amount: '155', currency: 'USD', plan: '100k' })
    await postToken({ event: 'challenge_reset', event_id: 'ch-2', player_id: 'P-1', amount: '99', currency: 'USD' })
    await postToken({ event: 'challenge_refund', event_id: 'ch-3', player_id: 'P-1', amount: '155', currency: 'USD' })
    await postToken({ event: 'challenge_funded', event_id: 'ch-4', player_id: 'P-1', challenge_id: 'CH-7' })
    await postToken({ event: 'chargeback', event_id: 'cb-1', player_id: 'P-1', amount: '250.75', currency: 'EUR', ref_event_id: 'dep-1' })
    await postToken({ event: 'refund', event_id: 'rf-1', player_id: 'P-1', amount: '5', currency: 'EUR' })
    await postSigned({ action: 'dep', ref: 'dep-ghost', client: 'P-NOBODY', amount: '10', currency: 'EUR' })

    const all = await waitFor(
      'all conversions in ClickHouse',
      async () => (await call('GET', `/api/events?limit=1000`)).body.items as Row[],
      (items) => items.filter((r) => r.kind !== 'click').length === 14,
      60_000,
    )
    const byId = new Map(all.map((r) => [r.eventId, r]))
    const mine = (id: string, src = tokenSource.id) => byId.get(`${src}:${id}`)
    expect(mine('reg-1')).toMatchObject({ kind: 'registration', status: 'attributed', reason: 'registered', affiliateId: aff.id })
    expect(mine('ftd-1')).toMatchObject({ kind: 'ftd', status: 'attributed', reason: 'first_deposit', affiliateId: aff.id, amount: '100', currency: 'EUR', commission: [] })
    expect(mine('dep-1', hmacSource.id)).toMatchObject({ kind: 'deposit', status: 'attributed', reason: 'bound_player', affiliateId: aff.id, amount: '250.75' })
    expect(mine('wd-1', hmacSource.id)).toMatchObject({ kind: 'withdrawal', affiliateId: aff.id, amount: '80' })
    expect(mine('act-1')).toMatchObject({ kind: 'activity', affiliateId: aff.id, currency: 'EUR', details: { date: '2026-11-23', bets: '1000', wins: '850.5', bonuses: '20' } })
    expect(mine('tr-1')).toMatchObject({ kind: 'trade', affiliateId: aff.id, currency: 'USD', details: { instrument: 'EURUSD', lots: '57.7', spread: '10' } })
    expect(mine('ch-1')).toMatchObject({ kind: 'challenge_purchase', amount: '155', details: { plan: '100k' } })
    expect(mine('ch-4')).toMatchObject({ kind: 'challenge_funded', details: { challenge_id: 'CH-7' } })
    expect(mine('cb-1')).toMatchObject({ kind: 'chargeback', amount: '250.75', details: { ref_event_id: 'dep-1' } })
    for (const id of ['ch-2', 'ch-3', 'rf-1']) expect(mine(id)).toMatchObject({ status: 'attributed', reason: 'bound_player', affiliateId: aff.id })
    // the click: its visitor worked out by the processor, its IP stored as a keyed pseudonym (the default)
    const click = all.find((r) => r.kind === 'click' && r.affiliateId === aff.id)!
    expect(click).toMatchObject({ sub: { sub1: 'spring' }, device: 'mobile', os: 'iOS', browser: 'Safari', isBot: false, country: '' })
    expect(click.ip).toMatch(/^[0-9a-f]{32}$/)
  })

  it('parks an event that comes before its registration, lists it as unattributed, and applies it when the registration comes', async () => {
    const ghost = `${hmacSource.id}:dep-ghost`
    const report = await call('GET', '/api/reports/unattributed')
    expect(report.status).toBe(200)
    expect(report.body.items).toEqual([expect.objectContaining({ eventId: ghost, kind: 'deposit', status: 'parked', reason: 'awaiting_registration', affiliateId: 0, amount: '10' })])
    await postToken({ event: 'registration', event_id: 'reg-late', player_id: 'P-NOBODY', click_id: clickId })
    const rows = await waitFor(
      'the parked deposit applied',
      async () => (await call('GET', '/api/events?kind=deposit&limit=100')).body.items as Row[],
      (items) => items.filter((r) => r.eventId === ghost).length === 2,
    )
    expect(rows.filter((r) => r.eventId === ghost).map((r) => [r.status, r.reason, r.affiliateId]).sort()).toEqual([
      ['attributed', 'bound_player', aff.id],
      ['parked', 'awaiting_registration', 0],
    ])
    expect((await call('GET', '/api/reports/unattributed')).body.items).toEqual([])
    expect((await api(app.url, 'not-a-key')('GET', '/api/reports/unattributed')).status).toBe(401)
  })

  it('pages with a cursor: no row twice, none missed', async () => {
    const whole = (await call('GET', '/api/events?limit=1000')).body.items as Row[]
    const seen: string[] = []
    let cursor: string | undefined
    do {
      const page = await call('GET', `/api/events?limit=4${cursor ? `&cursor=${cursor}` : ''}`)
      expect(page.status).toBe(200)
      seen.push(...page.body.items.map((r: Row) => r.eventId))
      cursor = page.body.next
    } while (cursor)
    expect(seen).toEqual(whole.map((r) => r.eventId))
    expect((await call('GET', '/api/events?cursor=not-a-cursor')).status).toBe(400)
    expect((await call('GET', '/api/events?kind=bogus')).status).toBe(400)
  })

  it("filters by kind; an affiliate sees only its own rows, without visitors' IPs", async () => {
    const byAffiliate = await call('GET', `/api/events?affiliateId=${aff.id}&limit=1000`)
    expect(byAffiliate.body.items.length).toBeGreaterThan(10)
    expect(byAffiliate.body.items.every((r: Row) => r.affiliateId === aff.id)).toBe(true)
    const deposits = (await call('GET', '/api/events?kind=deposit')).body.items as Row[]
    expect(deposits.map((r) => r.eventId).sort()).toEqual([`${hmacSource.id}:dep-1`, `${hmacSource.id}:dep-ghost`, `${hmacSource.id}:dep-ghost`])
    const token = (await call('POST', `/api/affiliates/${aff.id}/tokens`, { ttlDays: 1 })).body.token
    const asAff = api(app.url, token)
    const own = await asAff('GET', '/api/events?limit=1000')
    expect(own.status, JSON.stringify(own.body)).toBe(200)
    expect(own.body.items.length).toBeGreaterThan(10)
    expect(own.body.items.every((r: Row) => r.affiliateId === aff.id && r.ip === undefined)).toBe(true)
    expect(own.body.items.some((r: Row) => r.eventId.endsWith(':reg-other'))).toBe(false)
    expect((await asAff('GET', `/api/events?affiliateId=${other.id}`)).status).toBe(403)
    expect((await asAff('GET', '/api/events?status=parked')).body.items).toEqual([])
    expect((await asAff('GET', '/api/reports/unattributed')).status).toBe(403)
  })

  it('an operator reassigns a player: later events go to the new affiliate, the change is in the log', async () => {
    const token = (await call('POST', `/api/affiliates/${aff.id}/tokens`, { ttlDays: 1 })).body.token
    expect((await api(app.url, token)('POST', '/api/players/reassign', { playerId: 'P-1', affiliateId: aff.id, note: 'mine' })).status).toBe(403)
    const bad = await call('POST', '/api/players/reassign', { playerId: 'P 1', affiliateId: -1 })
    expect(bad.status).toBe(400)
    expect(Object.keys(bad.body.fields).sort()).toEqual(['affiliateId', 'note', 'playerId'])
    expect((await call('POST', '/api/players/reassign', { playerId: 'P-1', affiliateId: 999_999, note: 'x' })).status).toBe(404)

    const r = await call('POST', '/api/players/reassign', { playerId: 'P-1', affiliateId: other.id, note: 'partner B brought this player (ticket 42)' })
    expect(r.status).toBe(202)
    await postToken({ event: 'deposit', event_id: 'dep-after', player_id: 'P-1', amount: '60', currency: 'EUR' })
    const rows = await waitFor(
      'the reassignment and the deposit after it',
      async () => (await call('GET', '/api/events?limit=1000')).body.items as Row[],
      (items) => items.some((x) => x.eventId === `${tokenSource.id}:dep-after`),
    )
    expect(rows.find((x) => x.eventId === r.body.id)).toMatchObject({
      kind: 'reassign',
      status: 'attributed',
      reason: 'reassigned',
      affiliateId: other.id,
      details: { from_affiliate: String(aff.id), by: 'operator', note: 'partner B brought this player (ticket 42)' },
    })
    expect(rows.find((x) => x.eventId === `${tokenSource.id}:dep-after`)).toMatchObject({ status: 'attributed', reason: 'bound_player', affiliateId: other.id })
    // nothing before it moved
    expect(rows.find((x) => x.eventId === `${hmacSource.id}:dep-1`)).toMatchObject({ affiliateId: aff.id })
  })
})

describe('when a conversion happened', () => {
  it("pays an FTD by the deal in force when it happened, not when it was received", async () => {
    const partner = (await call('POST', '/api/affiliates', { name: 'Partner C' })).body
    const link = (await call('POST', '/api/links', { affiliateId: partner.id, destination: 'https://casino.example/?c={click_id}' })).body
    await new Promise((r) => setTimeout(r, 300))
    const clickOf = async () => new URL((await fetch(`${app.url}/c/${link.code}`, { redirect: 'manual' })).headers.get('location')!).searchParams.get('c')!
    const [early, late] = [await clickOf(), await clickOf()]
    const effectiveFrom = Date.now() + 2_000
    const deal = await call('POST', '/api/deals/cpa', { affiliateId: partner.id, amount: '40', currency: 'EUR', effectiveFrom: new Date(effectiveFrom).toISOString() })
    expect(deal.status).toBe(201)
    await new Promise((r) => setTimeout(r, effectiveFrom - Date.now() + 200))
    // both received after the deal took effect; the first happened before it
    await postToken({ event: 'ftd', event_id: 'occ-early', click_id: early, amount: '100', currency: 'EUR', occurred_at: new Date(effectiveFrom - 1_000).toISOString() })
    await postToken({ event: 'ftd', event_id: 'occ-late', click_id: late, amount: '100', currency: 'EUR' })
    // the one that happened after the deal took effect earns its CPA (the affiliate stage writes it)
    const rows = await waitFor(
      'both FTDs stored, the CPA paid',
      async () => ((await call('GET', '/api/events?kind=ftd&limit=1000')).body.items as (Row & { commission?: { amount: string; currency: string }[] })[]).filter((r) => r.affiliateId === partner.id),
      (items) => items.length === 2 && items.some((r) => (r.commission ?? []).length > 0),
      30_000,
    )
    const byId = new Map(rows.map((r) => [r.eventId, r]))
    expect(byId.get(`${tokenSource.id}:occ-early`)).toMatchObject({ status: 'attributed', reason: 'first_deposit', commission: [] })
    expect(byId.get(`${tokenSource.id}:occ-late`)).toMatchObject({ status: 'attributed', reason: 'first_deposit', commission: [{ amount: '40', currency: 'EUR' }] })
  })
})
