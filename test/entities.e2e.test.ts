/**
 * Brands, offers with landing pages and markets, links with landing pages, default sub-ids
 * and geo rules, the first-party click cookie, the affiliate's link builder and the audit
 * log, through real HTTP against a real nats-server and chDB (all three tiers in-process).
 * The client address comes from X-Forwarded-For (TRUST_PROXY=127.0.0.1), so a test can
 * click from Germany or Britain.
 */
import { connect, type NatsConnection } from 'nats'
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AuditLog } from '../common/audit.js'
import { ClickIdSigner } from '../common/clickid.js'
import { AUDIT_STREAM } from '../common/subjects.js'
import { launch, type App } from '../launcher.js'
import { api, waitFor } from './helpers/app.js'
import { tempDir, TEST_SECRETS } from './helpers/config.js'
import { startTestNats } from './helpers/nats.js'
import { BROWSER_UA } from './helpers/scenario.js'

const DE = '85.214.132.117'
const GB = '81.2.69.142'
const PRIVATE = '10.0.0.1'

let nats: Awaited<ReturnType<typeof startTestNats>>
let app: App
let nc: NatsConnection
const op = () => api(app.url, TEST_SECRETS.OPERATOR_API_KEY)
let brand: number
let offer: { id: number; landingPages: { id: string; url: string }[]; markets: string[] }
let aff: number
let other: number
let affToken: string

beforeAll(async () => {
  nats = await startTestNats()
  app = await launch(['--tier', 'ingest,processor,query-api'], {
    NATS_URL: nats.url,
    DATA_DIR: tempDir('entities'),
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    TRUST_PROXY: '127.0.0.1',
    PROCESSOR_BATCH_WAIT_MS: '20',
    ...TEST_SECRETS,
  })
  nc = await connect({ servers: nats.url })
  brand = (await op()('POST', '/api/brands', { name: 'Lucky Spins', url: 'https://luckyspins.example' })).body.id
  const o = await op()('POST', '/api/offers', {
    name: 'Welcome bonus',
    brandId: brand,
    destination: 'https://luckyspins.example/welcome',
    landingPages: [
      { id: 'spring', name: 'Spring promo', url: 'https://luckyspins.example/spring?cid={click_id}&s1={sub1}&s2={sub2}' },
      { id: 'slots', name: 'Slots', url: 'https://luckyspins.example/slots' },
    ],
    markets: ['de', 'AT'],
  })
  expect(o.status, JSON.stringify(o.body)).toBe(201)
  offer = o.body
  aff = (await op()('POST', '/api/affiliates', { name: 'Geo Media' })).body.id
  other = (await op()('POST', '/api/affiliates', { name: 'Someone else' })).body.id
  affToken = (await op()('POST', `/api/affiliates/${aff}/tokens`, {})).body.token
}, 120_000)

afterAll(async () => {
  await nc?.close()
  await app?.stop()
  await nats?.stop()
})

/** A click; a link made a moment ago reaches the click path through a KV watch, so a 404 is asked again briefly. */
const click = async (code: string, from: string, query = '') => {
  for (let i = 0; ; i++) {
    const r = await fetch(`${app.url}/c/${code}${query}`, { redirect: 'manual', headers: { 'x-forwarded-for': from, 'user-agent': BROWSER_UA } })
    if (r.status !== 404 || i >= 20) return r
    await new Promise((res) => setTimeout(res, 50))
  }
}
const events = async (q: string) => (await op()('GET', `/api/events?${q}`)).body.items as { eventId: string; kind: string; status: string; reason: string; sub: Record<string, string>; linkId?: number }[]

describe('brands and offers', () => {
  it('an offer belongs to a brand; its markets are country codes, upper-cased', async () => {
    expect(offer.markets).toEqual(['DE', 'AT'])
    expect((await op()('GET', '/api/brands')).body.items.map((b: { name: string }) => b.name)).toContain('Lucky Spins')
    expect((await op()('PATCH', `/api/brands/${brand}`, { status: 'paused' })).body.status).toBe('paused')
    // affiliates see active brands only
    expect((await api(app.url, affToken)('GET', '/api/brands')).body.items.some((b: { id: number }) => b.id === brand)).toBe(false)
    expect((await op()('PATCH', `/api/brands/${brand}`, { status: 'active' })).body.status).toBe('active')
  })

  it('lists page and filter: offers by brand and status, affiliates only ever active ones', async () => {
    const second = (await op()('POST', '/api/offers', { name: 'No brand', destination: 'https://x.example/' })).body
    const mine = (await op()('GET', `/api/offers?brandId=${brand}`)).body.items
    expect(mine.map((o: { id: number }) => o.id)).toEqual([offer.id])
    const first = (await op()('GET', '/api/offers?limit=1')).body
    expect(first.items).toHaveLength(1)
    const rest = (await op()('GET', `/api/offers?cursor=${first.next}&limit=1000`)).body.items
    expect(rest.map((o: { id: number }) => o.id)).toContain(second.id)
    expect(rest.every((o: { id: number }) => o.id > first.items[0].id)).toBe(true)
    expect((await api(app.url, affToken)('GET', '/api/offers?status=paused')).body.items).toEqual([])
    expect((await op()('GET', '/api/offers?status=sometimes')).status).toBe(400)
  })

  it('a PATCH changes what it names and keeps the rest; null clears an optional field', async () => {
    const o = (
      await op()('POST', '/api/offers', {
        name: 'Keep me',
        brandId: brand,
        destination: 'https://luckyspins.example/',
        deepLinkHosts: ['luckyspins.example'],
        landingPages: [{ id: 'lp', name: 'LP', url: 'https://luckyspins.example/lp' }],
        markets: ['DE'],
        attributionWindowDays: 14,
        status: 'paused',
      })
    ).body
    const renamed = await op()('PATCH', `/api/offers/${o.id}`, { name: 'Renamed' })
    expect(renamed.status).toBe(200)
    expect(renamed.body).toMatchObject({ name: 'Renamed', brandId: brand, deepLinkHosts: ['luckyspins.example'], landingPages: [{ id: 'lp' }], markets: ['DE'], attributionWindowDays: 14, status: 'paused' })
    const cleared = (await op()('PATCH', `/api/offers/${o.id}`, { attributionWindowDays: null })).body
    expect(cleared).not.toHaveProperty('attributionWindowDays')
    expect(cleared.markets).toEqual(['DE'])
    expect((await op()('PATCH', `/api/offers/${o.id}`, { status: null })).status).toBe(400)
    expect((await op()('PATCH', `/api/offers/${o.id}`, { colour: 'red' })).status).toBe(400)
    const b = (await op()('POST', '/api/brands', { name: 'Paused brand', url: 'https://pb.example' })).body
    await op()('PATCH', `/api/brands/${b.id}`, { status: 'paused' })
    expect((await op()('PATCH', `/api/brands/${b.id}`, { name: 'Still paused' })).body).toMatchObject({ name: 'Still paused', status: 'paused', url: 'https://pb.example' })
    const src = (await op()('POST', '/api/sources', { name: 'mapped', fieldMap: { player_id: 'uid' }, eventMap: { signup: 'registration' } })).body
    expect((await op()('PATCH', `/api/sources/${src.id}`, { ipAllow: ['192.0.2.0/24'] })).body).toMatchObject({ ipAllow: ['192.0.2.0/24'], fieldMap: { player_id: 'uid' }, eventMap: { signup: 'registration' } })
  })

  it.each([
    ['a space', 'https://x.example/a b'],
    ['a line break (header injection)', 'https://x.example/a\r\nSet-Cookie: x=1'],
    ['a character outside ASCII', 'https://x.example/中'],
    ['a macro in the host', 'https://{sub1}.example/'],
  ])('refuses a destination with %s', async (_what, url) => {
    const r = await op()('POST', '/api/offers', { name: 'Bad URL', destination: url })
    expect(r.status).toBe(400)
    expect(r.body.fields).toHaveProperty('destination')
    expect((await op()('POST', '/api/offers', { name: 'Bad LP', destination: 'https://x.example/', landingPages: [{ id: 'a', name: 'A', url }] })).status).toBe(400)
  })

  it.each<[string, Record<string, unknown>, string]>([
    ['a brand that does not exist', { brandId: 999 }, 'brandId'],
    ['a market that is not a country code', { markets: ['Germany'] }, 'markets.0'],
    ['two landing pages with one id', { landingPages: [{ id: 'a', name: 'A', url: 'https://x.example/a' }, { id: 'a', name: 'B', url: 'https://x.example/b' }] }, 'landingPages'],
    ['a landing page that is not http(s)', { landingPages: [{ id: 'a', name: 'A', url: 'ftp://x.example/a' }] }, 'landingPages.0.url'],
  ])('refuses an offer with %s (400, the field named)', async (_what, extra, field) => {
    const r = await op()('POST', '/api/offers', { name: 'Bad', destination: 'https://x.example/', ...extra })
    expect(r.status).toBe(400)
    expect(Object.keys(r.body.fields)).toContain(field)
  })
})

describe('links: landing pages, default sub-ids, geo rules, the click cookie', () => {
  it('sends visitors to the landing page, with the link’s default sub-ids where the click has none', async () => {
    const link = (await op()('POST', '/api/links', { affiliateId: aff, offerId: offer.id, landingPageId: 'spring', subs: { sub1: 'default1', sub2: 'default2' } })).body
    const r = await click(link.code, DE, '?sub1=mine')
    expect(r.status).toBe(302)
    const to = new URL(r.headers.get('location')!)
    expect(`${to.origin}${to.pathname}`).toBe('https://luckyspins.example/spring')
    expect(to.searchParams.get('s1')).toBe('mine')
    expect(to.searchParams.get('s2')).toBe('default2')
    const id = to.searchParams.get('cid')!
    const row = await waitFor('the click row', () => events(`kind=click&affiliateId=${aff}`), (rows) => rows.some((e) => e.eventId === id))
    expect(row.find((e) => e.eventId === id)!.sub).toMatchObject({ sub1: 'mine', sub2: 'default2' })
  })

  it('refuses a landing page the offer does not have', async () => {
    const r = await op()('POST', '/api/links', { affiliateId: aff, offerId: offer.id, landingPageId: 'nope' })
    expect(r.status).toBe(400)
    expect(r.body.fields).toHaveProperty('landingPageId')
  })

  it('blocks visitors from outside the markets: 403, recorded as blocked, not counted as a click', async () => {
    const link = (await op()('POST', '/api/links', { affiliateId: aff, offerId: offer.id, geo: { outside: 'block' } })).body
    expect((await click(link.code, DE)).status).toBe(302)
    const gb = await click(link.code, GB)
    expect(gb.status).toBe(403)
    expect(gb.headers.get('location')).toBeNull()
    expect(gb.headers.get('set-cookie')).toBeNull()
    expect(await gb.text()).toContain('Not available in your country')
    // an address the lookup cannot place counts as outside
    expect((await click(link.code, PRIVATE)).status).toBe(403)
    const rows = await waitFor(
      'three clicks on the geo link',
      async () => (await events(`kind=click&affiliateId=${aff}&limit=1000`)).filter((e) => e.linkId === link.id),
      (r) => r.length === 3,
    )
    expect(rows.map((e) => `${e.status}/${e.reason}`).sort()).toEqual(['blocked/geo_blocked', 'blocked/geo_blocked', 'valid/'])
    // the affiliate's click total counts its valid clicks only
    const all = await events(`kind=click&affiliateId=${aff}&limit=1000`)
    const valid = all.filter((e) => e.status === 'valid').length
    expect(valid).toBeLessThan(all.length)
    const summary = (await op()('GET', `/api/reports/summary?affiliateId=${aff}`)).body
    expect(summary.totals.clicks).toBe(valid)
  })

  it('redirects visitors from outside the markets elsewhere, and a link may narrow the markets', async () => {
    const link = (await op()('POST', '/api/links', { affiliateId: aff, offerId: offer.id, markets: ['GB'], geo: { outside: 'redirect', redirectUrl: 'https://luckyspins.example/other?c={click_id}' } })).body
    expect(new URL((await click(link.code, GB)).headers.get('location')!).pathname).toBe('/welcome')
    const de = await click(link.code, DE)
    expect(de.status).toBe(302)
    const to = new URL(de.headers.get('location')!)
    expect(to.pathname).toBe('/other')
    expect(new ClickIdSigner(TEST_SECRETS.CLICK_SECRET).verify(to.searchParams.get('c')!).ok).toBe(true)
    // a redirect rule without a target is refused
    const bad = await op()('PATCH', `/api/links/${link.id}`, { geo: { outside: 'redirect' } })
    expect(bad.status).toBe(400)
    expect(bad.body.fields).toHaveProperty('geo.redirectUrl')
    // clearing the rule lets everyone through
    expect((await op()('PATCH', `/api/links/${link.id}`, { geo: null })).status).toBe(200)
    await waitFor('the rule to reach ingest', async () => new URL((await click(link.code, DE)).headers.get('location')!).pathname, (p) => p === '/welcome', 10_000)
  })

  it('sets a first-party cookie with the signed click id; the id in it attributes a registration', async () => {
    const link = (await op()('POST', '/api/links', { affiliateId: aff, offerId: offer.id })).body
    const r = await click(link.code, DE)
    const cookie = r.headers.get('set-cookie')!
    const m = /^aff_click=([A-Za-z0-9_-]+); Max-Age=2592000; Path=\/; SameSite=Lax$/.exec(cookie)
    expect(m, cookie).not.toBeNull()
    expect(m![1]).toBe(new URL(r.headers.get('location')!).searchParams.get('click_id'))
    // the landing-page script keeps the id in the landing site's own cookie
    const js = await fetch(`${app.url}/t.js`)
    expect(js.headers.get('content-type')).toContain('javascript')
    expect(await js.text()).toContain('"aff_click"')
    // the operator's platform reads the cookie at sign-up and sends it back
    const src = (await op()('POST', '/api/sources', { name: 'platform' })).body
    const pb = await fetch(`${app.url}/postback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-postback-token': src.token },
      body: JSON.stringify({ source: src.id, event: 'registration', event_id: 'cookie-reg-1', player_id: 'COOKIE-P1', click_id: m![1] }),
    })
    expect(pb.status, await pb.clone().text()).toBe(200)
    const mine = (e: { eventId: string }) => e.eventId === `${src.id}:cookie-reg-1`
    const reg = await waitFor('the registration', () => events('kind=registration&limit=1000'), (rows) => rows.some(mine), 20_000)
    expect(reg.find(mine)).toMatchObject({ status: 'attributed', affiliateId: aff })
  })

  it('a deep link with a line break or non-ASCII is sent percent-encoded, and ingest carries on', async () => {
    const deep = (await op()('POST', '/api/offers', { name: 'Deep', destination: 'https://luckyspins.example/', deepLinkHosts: ['luckyspins.example'] })).body
    const link = (await op()('POST', '/api/links', { affiliateId: aff, offerId: deep.id })).body
    await waitFor('the offer to reach ingest', async () => (await click(link.code, DE, `?url=${encodeURIComponent('https://luckyspins.example/ok')}`)).headers.get('location') ?? '', (l) => l.startsWith('https://luckyspins.example/ok'), 10_000)
    for (const url of ['https://luckyspins.example/a\r\nSet-Cookie: evil=1', 'https://luckyspins.example/中']) {
      const r = await click(link.code, DE, `?url=${encodeURIComponent(url)}`)
      expect(r.status).toBe(302)
      const location = r.headers.get('location')!
      expect(location).toMatch(/^https:\/\/luckyspins\.example\/[\x21-\x7e]*$/)
      expect(r.headers.get('set-cookie')).not.toContain('evil')
    }
    expect((await click(link.code, DE)).status).toBe(302)
  })

  it('a paused link stops redirecting', async () => {
    const link = (await op()('POST', '/api/links', { affiliateId: aff, offerId: offer.id })).body
    expect((await op()('PATCH', `/api/links/${link.id}`, { status: 'paused' })).body.status).toBe('paused')
    await waitFor('the pause to reach ingest', async () => (await click(link.code, DE)).status, (s) => s === 404, 10_000)
    expect((await op()('PATCH', '/api/links/99999', { status: 'paused' })).status).toBe(404)
  })
})

describe("the affiliate's link builder", () => {
  const aff$ = () => api(app.url, affToken)

  it('creates a link of its own to an active offer, with a landing page and sub-ids', async () => {
    const r = await aff$()('POST', '/api/links', { offerId: offer.id, landingPageId: 'slots', subs: { sub1: 'fb-campaign' } })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    expect(r.body).toMatchObject({ affiliateId: aff, offerId: offer.id, landingPageId: 'slots', subs: { sub1: 'fb-campaign' } })
    const to = new URL((await click(r.body.code, DE)).headers.get('location')!)
    expect(to.pathname).toBe('/slots')
    expect((await aff$()('GET', '/api/links?limit=1000')).body.items.some((l: { id: number }) => l.id === r.body.id)).toBe(true)
  })

  it.each<[string, Record<string, unknown>, number]>([
    ["another affiliate's", { affiliateId: 0, offerId: 0 }, 403],
    ['its own destination', { offerId: 0, destination: 'https://evil.example/' }, 400],
    ['a geo rule (operator only)', { offerId: 0, geo: { outside: 'block' } }, 400],
    ['an offer that does not exist', { offerId: 9999 }, 400],
  ])('refuses %s', async (_what, body, status) => {
    const b = { ...body, offerId: body.offerId === 0 ? offer.id : body.offerId, ...(body.affiliateId === 0 ? { affiliateId: other } : {}) }
    expect((await aff$()('POST', '/api/links', b)).status).toBe(status)
  })

  it('refuses a paused offer', async () => {
    const paused = (await op()('POST', '/api/offers', { name: 'Old', destination: 'https://x.example/', status: 'paused' })).body
    expect((await aff$()('POST', '/api/links', { offerId: paused.id })).status).toBe(400)
  })
})

describe('a suspended affiliate', () => {
  it('is shut out of the portal at once, and let back in when reactivated', async () => {
    const who = await op()('POST', '/api/affiliates', { name: 'To suspend' })
    const tok = (await op()('POST', `/api/affiliates/${who.body.id}/tokens`, {})).body.token
    expect((await api(app.url, tok)('GET', '/api/whoami')).status).toBe(200)
    await op()('PATCH', `/api/affiliates/${who.body.id}`, { status: 'suspended' })
    const shut = await waitFor('the suspension to reach the API', () => api(app.url, tok)('GET', '/api/links'), (r) => r.status !== 200, 10_000)
    expect(shut).toMatchObject({ status: 403, body: { error: 'affiliate_suspended' } })
    await op()('PATCH', `/api/affiliates/${who.body.id}`, { status: 'active' })
    await waitFor('the reactivation', () => api(app.url, tok)('GET', '/api/links'), (r) => r.status === 200, 10_000)
  })

  it('an open live connection is closed at the next delta after the suspension', async () => {
    const who = (await op()('POST', '/api/affiliates', { name: 'Live then suspended' })).body
    const link = (await op()('POST', '/api/links', { affiliateId: who.id, destination: 'https://x.example/' })).body
    const tok = (await op()('POST', `/api/affiliates/${who.id}/tokens`, {})).body.token
    const ws = new WebSocket(`${app.url.replace('http', 'ws')}/ws`)
    const frames: { type: string }[] = []
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)))
    ws.on('message', (m) => frames.push(JSON.parse(String(m))))
    await new Promise((r) => ws.on('open', r))
    ws.send(JSON.stringify({ type: 'auth', token: tok }))
    await waitFor('hello', async () => frames.map((f) => f.type), (t) => t.includes('hello'), 10_000)
    await click(link.code, DE)
    await waitFor('a delta while active', async () => frames.map((f) => f.type), (t) => t.includes('delta'), 20_000)
    await op()('PATCH', `/api/affiliates/${who.id}`, { status: 'suspended' })
    await waitFor('the suspension to reach the API', () => api(app.url, tok)('GET', '/api/whoami'), (r) => r.status === 403, 10_000)
    const deltas = frames.filter((f) => f.type === 'delta').length
    await click(link.code, DE)
    expect(await closed).toBe(4403)
    expect(frames.filter((f) => f.type === 'delta').length).toBe(deltas)
  })
})

describe('the audit log', () => {
  it('records every change: who, when, before and after; never a secret', async () => {
    const r = await op()('PATCH', `/api/affiliates/${other}`, { status: 'suspended', manager: 'Ann' })
    expect(r.status).toBe(200)
    const log = (await op()('GET', `/api/audit?entity=affiliate&key=${other}`)).body.items
    expect(log[0]).toMatchObject({ by: 'operator', entity: 'affiliate', key: String(other), action: 'update', before: { status: 'active' }, after: { status: 'suspended', manager: 'Ann' } })
    expect(log.at(-1)).toMatchObject({ action: 'create', after: { name: 'Someone else' } })
    // portal access given is on record, the token itself is not
    const given = (await op()('GET', `/api/audit?entity=affiliate&key=${aff}`)).body.items.find((x: { after?: { portalTokenIssued?: unknown } }) => x.after?.portalTokenIssued)
    expect(given).toMatchObject({ by: 'operator', after: { portalTokenIssued: { expiresAt: expect.any(String) } } })
    expect(JSON.stringify((await op()('GET', '/api/audit?limit=1000')).body)).not.toContain(affToken)
    const src = (await op()('GET', '/api/audit?entity=source')).body.items[0]
    expect(src.after.tokenHash).toBe('[redacted]')
    expect(JSON.stringify((await op()('GET', '/api/audit?limit=1000')).body)).not.toMatch(/"(tokenHash|hmacSecret)":"(?!\[redacted\])/)
    // the affiliate's own link builder shows as the affiliate
    const links = (await op()('GET', '/api/audit?entity=link&limit=1000')).body.items
    expect(links.some((x: { by: string }) => x.by === `affiliate:${aff}`)).toBe(true)
  })

  it('records a reassignment with its note', async () => {
    expect((await op()('POST', '/api/players/reassign', { playerId: 'COOKIE-P1', affiliateId: other, note: 'ticket 42' })).status).toBe(202)
    const rec = (await op()('GET', '/api/audit?playerId=COOKIE-P1')).body.items[0]
    expect(rec).toMatchObject({ by: 'operator', entity: 'player', action: 'update', after: { affiliateId: other }, note: 'ticket 42' })
    // keyed by the player's pseudonym (the events log's playerRef), never the raw id
    const reg = (await events('kind=registration&limit=1000')).find((e) => e.eventId.endsWith(':cookie-reg-1')) as unknown as { playerRef: string }
    expect(rec.key).toBe(reg.playerRef)
    expect(JSON.stringify((await op()('GET', '/api/audit?limit=1000')).body)).not.toContain('COOKIE-P1')
  })

  it('is one unbroken chain, also with two processes appending at once', async () => {
    const nc2 = await connect({ servers: nats.url })
    const [x, y] = await Promise.all([AuditLog.open(nc), AuditLog.open(nc2)])
    await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? x : y).append({ by: 'system', entity: 'brand', key: `race-${i}`, action: 'update', after: { i } })))
    await nc2.close()
    const v = (await op()('GET', '/api/audit/verify')).body
    expect(v.ok, JSON.stringify(v)).toBe(true)
    const total = (await (await nc.jetstreamManager()).streams.info(AUDIT_STREAM)).state.messages
    expect(v.records).toBe(total)
    expect(total).toBeGreaterThan(40)
    // paging walks back through every record once
    const seen: number[] = []
    let before: number | undefined
    do {
      const p = (await op()('GET', `/api/audit?limit=17${before ? `&before=${before}` : ''}`)).body
      seen.push(...p.items.map((r: { seq: number }) => r.seq))
      before = p.next
    } while (before)
    expect(seen).toEqual(Array.from({ length: total }, (_, i) => total - i))
    // filtered by entity: only its records, newest first, each once across pages
    const brandSeqs = seen.length
    const bySeq: number[] = []
    before = undefined
    do {
      const p: { items: { entity: string; seq: number }[]; next?: number } = (await op()('GET', `/api/audit?entity=brand&limit=7${before ? `&before=${before}` : ''}`)).body
      expect(p.items.every((r) => r.entity === 'brand')).toBe(true)
      bySeq.push(...p.items.map((r) => r.seq))
      before = p.next
    } while (before)
    expect(bySeq).toEqual([...bySeq].sort((a, b) => b - a))
    expect(new Set(bySeq).size).toBe(bySeq.length)
    expect(bySeq.length).toBeGreaterThanOrEqual(40)
    expect(bySeq.length).toBeLessThan(brandSeqs)
    // by key: that key's history only
    const one = (await op()('GET', '/api/audit?entity=brand&key=race-3')).body
    expect(one.items.map((r: { key: string; after: { i: number } }) => [r.key, r.after.i])).toEqual([['race-3', 3]])
    expect((await op()('GET', '/api/audit?entity=brand&key=never-changed')).body).toEqual({ items: [] })
  })

  it('refuses to delete or purge a record', async () => {
    const jsm = await nc.jetstreamManager()
    await expect(jsm.streams.deleteMessage(AUDIT_STREAM, 1)).rejects.toThrow()
    await expect(jsm.streams.purge(AUDIT_STREAM)).rejects.toThrow()
    expect((await op()('GET', '/api/audit/verify')).body.ok).toBe(true)
  })
})
