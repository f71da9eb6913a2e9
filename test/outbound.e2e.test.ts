/**
 * Outbound postbacks end to end in the embedded app: an affiliate's endpoint (a local test
 * server) that fails its first three tries receives exactly one successful delivery, with
 * every try in the attempt log; an endpoint that never answers well ends dead after the
 * last try; a re-fire after the fix delivers again. Affiliates see only their own log.
 */
import { createServer, type Server } from 'node:http'
import { once } from 'node:events'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, spawnEmbedded, waitFor, type EmbeddedApp } from './helpers/app.js'

let app: EmbeddedApp
let call: EmbeddedApp['call']
let server: Server
let base: string
const hits: { path: string; status: number }[] = []
let flakyLeft = 3
let brokenFixed = false

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? ''
    let status = 200
    if (path.startsWith('/flaky') && flakyLeft > 0) (flakyLeft--, (status = 500))
    if (path.startsWith('/broken') && !brokenFixed) status = 503
    hits.push({ path, status })
    res.writeHead(status).end(status === 200 ? 'OK' : 'nope')
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  app = await spawnEmbedded('outbound-e2e', { POSTBACK_RETRY_BASE_MS: '100', POSTBACK_MAX_ATTEMPTS: '4', POSTBACK_ALLOW_PRIVATE: 'true' })
  call = app.call
}, 120_000)

afterAll(async () => {
  await app?.dispose()
  server?.close()
})

type Attempt = { deliveryId: string; eventId: string; attempt: number; outcome: string; statusCode: number; error: string; url: string; endpointId: number }

describe('outbound postbacks', () => {
  let aff: { id: number }
  let flaky: { id: number }
  let broken: { id: number }
  let source: { id: number; token: string }
  let clickId: string

  it('an affiliate registers its endpoints; bad ones are refused with the reason', async () => {
    aff = (await call('POST', '/api/affiliates', { name: 'Partner' })).body
    const token = (await call('POST', `/api/affiliates/${aff.id}/tokens`, { ttlDays: 1 })).body.token
    const asAff = api(app.url, token)
    const f = await asAff('POST', '/api/postbacks/endpoints', { events: ['ftd'], url: `${base}/flaky?cid={click_id}&amt={amount}&cur={currency}&e={event_id}` })
    expect(f.status).toBe(201)
    flaky = f.body
    expect(flaky).toMatchObject({ affiliateId: aff.id, events: ['ftd'], status: 'active' })
    broken = (await call('POST', '/api/postbacks/endpoints', { affiliateId: aff.id, events: ['ftd', 'registration'], url: `${base}/broken?cid={click_id}&s1={sub1}` })).body
    const bad = await asAff('POST', '/api/postbacks/endpoints', { events: ['ftd'], url: 'https://x.example/?c={sub9}' })
    expect(bad.status).toBe(400)
    expect(bad.body.fields.url).toMatch(/only the macros/)
    expect((await asAff('POST', '/api/postbacks/endpoints', { events: [], url: 'https://x.example/' })).status).toBe(400)
    expect((await asAff('POST', '/api/postbacks/endpoints', { affiliateId: aff.id + 1, events: ['ftd'], url: 'https://x.example/' })).status).toBe(403)
    expect((await asAff('GET', '/api/postbacks/endpoints')).body.items.map((e: { id: number }) => e.id).sort()).toEqual([flaky.id, broken.id].sort())
  })

  it('a conversion reaches an endpoint that fails three times exactly once; every try is logged', async () => {
    const link = (await call('POST', '/api/links', { affiliateId: aff.id, destination: 'https://casino.example/?c={click_id}' })).body
    source = (await call('POST', '/api/sources', { name: 'casino' })).body
    await new Promise((r) => setTimeout(r, 300))
    const r = await fetch(`${app.url}/c/${link.code}?sub1=aff-77`, { redirect: 'manual' })
    clickId = new URL(r.headers.get('location')!).searchParams.get('c')!
    for (const body of [
      { event: 'registration', event_id: 'reg-1', player_id: 'P-1', click_id: clickId },
      { event: 'ftd', event_id: 'ftd-1', player_id: 'P-1', amount: '50.5', currency: 'EUR' },
    ]) {
      const p = await fetch(`${app.url}/postback`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-postback-token': source.token }, body: JSON.stringify({ source: source.id, ...body }) })
      expect(p.status).toBe(200)
    }
    const log = await waitFor(
      'four tries at the flaky endpoint',
      async () => (await call('GET', `/api/postbacks/attempts?endpointId=${flaky.id}`)).body.items as Attempt[],
      (items) => items.some((a) => a.outcome === 'delivered'),
      30_000,
    )
    await new Promise((r) => setTimeout(r, 500)) // nothing more may come
    const flakyHits = hits.filter((h) => h.path.startsWith('/flaky'))
    expect(flakyHits.map((h) => h.status)).toEqual([500, 500, 500, 200])
    expect(flakyHits[3]!.path).toBe(`/flaky?cid=${encodeURIComponent(clickId)}&amt=50.5&cur=EUR&e=ftd-1`)
    const tries = ((await call('GET', `/api/postbacks/attempts?endpointId=${flaky.id}`)).body.items as Attempt[]).sort((a, b) => a.attempt - b.attempt)
    expect(tries.map((a) => [a.attempt, a.outcome, a.statusCode])).toEqual([
      [1, 'retry', 500],
      [2, 'retry', 500],
      [3, 'retry', 500],
      [4, 'delivered', 200],
    ])
    expect(new Set(tries.map((a) => a.deliveryId)).size).toBe(1)
    expect(tries[0]!.error).toBe('HTTP 500')
    expect(log.length).toBeGreaterThan(0)
  })

  it('an endpoint that never recovers: dead after the last try, visible to the affiliate', async () => {
    const tries = await waitFor(
      'the broken endpoint given up',
      async () => (await call('GET', `/api/postbacks/attempts?endpointId=${broken.id}`)).body.items as Attempt[],
      (items) => items.filter((a) => a.outcome === 'dead').length === 2, // its registration and its FTD
      30_000,
    )
    for (const eventId of [`${source.id}:reg-1`, `${source.id}:ftd-1`]) {
      const mine = tries.filter((a) => a.eventId === eventId).sort((a, b) => a.attempt - b.attempt)
      expect(mine.map((a) => a.outcome)).toEqual(['retry', 'retry', 'retry', 'dead'])
    }
    // the affiliate's own sub-id came back to it from the click
    expect(tries.every((a) => a.url === `${base}/broken?cid=${encodeURIComponent(clickId)}&s1=aff-77`)).toBe(true)
    const token = (await call('POST', `/api/affiliates/${aff.id}/tokens`, { ttlDays: 1 })).body.token
    const own = await api(app.url, token)('GET', '/api/postbacks/attempts')
    expect(own.body.items.length).toBe(12)
    expect((await api(app.url, token)('GET', `/api/postbacks/attempts?affiliateId=${aff.id + 1}`)).status).toBe(403)
  })

  it('a re-fire after the fix delivers once more, as a new delivery', async () => {
    brokenFixed = true
    const r = await call('POST', '/api/postbacks/refire', { eventId: `${source.id}:ftd-1`, endpointId: broken.id })
    expect(r.status).toBe(202)
    const tries = await waitFor(
      're-fired delivery',
      async () => (await call('GET', `/api/postbacks/attempts?endpointId=${broken.id}`)).body.items as Attempt[],
      (items) => items.some((a) => a.deliveryId === r.body.deliveryId && a.outcome === 'delivered'),
      30_000,
    )
    expect(tries.filter((a) => a.deliveryId === r.body.deliveryId)).toHaveLength(1)
    expect(hits.filter((h) => h.path.startsWith('/broken') && h.status === 200)).toEqual([{ path: `/broken?cid=${encodeURIComponent(clickId)}&s1=aff-77`, status: 200 }])
    expect((await call('POST', '/api/postbacks/refire', { eventId: `${source.id}:nope`, endpointId: broken.id })).status).toBe(404)
  })

  it('test-fires an endpoint with a sample event: delivered and logged like a real one', async () => {
    const token = (await call('POST', `/api/affiliates/${aff.id}/tokens`, { ttlDays: 1 })).body.token
    const asAff = api(app.url, token)
    const r = await asAff('POST', `/api/postbacks/endpoints/${flaky.id}/test`)
    expect(r.status).toBe(202)
    expect(r.body.url).toBe(`${base}/flaky?cid=TEST_CLICK_ID&amt=50.00&cur=EUR&e=${r.body.eventId.slice(5)}`)
    const tries = await waitFor(
      'the test delivery',
      async () => (await asAff('GET', `/api/postbacks/attempts?eventId=${r.body.eventId}`)).body.items as Attempt[],
      (items) => items.some((a) => a.outcome === 'delivered'),
      30_000,
    )
    expect(tries).toHaveLength(1)
    const other = (await call('POST', '/api/affiliates', { name: 'Other' })).body
    const otherToken = (await call('POST', `/api/affiliates/${other.id}/tokens`, { ttlDays: 1 })).body.token
    expect((await api(app.url, otherToken)('POST', `/api/postbacks/endpoints/${flaky.id}/test`)).status).toBe(404)
  })
})
