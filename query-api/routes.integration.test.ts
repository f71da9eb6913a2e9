/**
 * The routes the dashboard's edit-in-place screens need, through real HTTP against a real
 * nats-server and chDB: each change answers with the entity, refuses bad input with the
 * field named, keeps affiliates to their own, and lands in the audit log (never a secret).
 */
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import { connect, type NatsConnection } from 'nats'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EntityStore } from '../common/entities.js'
import { launch, type App } from '../launcher.js'
import { api, waitFor } from '../test/helpers/app.js'
import { tempDir, TEST_SECRETS } from '../test/helpers/config.js'
import { startTestNats } from '../test/helpers/nats.js'

let nats: Awaited<ReturnType<typeof startTestNats>>
let app: App
let nc: NatsConnection
let server: Server
let base: string
const hits: string[] = []
const op = () => api(app.url, TEST_SECRETS.OPERATOR_API_KEY)
let aff: number
let other: number
let affToken: string
let otherToken: string

beforeAll(async () => {
  // A tracker that always says no: a test-fire must still be tried exactly once.
  server = createServer((req, res) => {
    hits.push(req.url ?? '')
    res.writeHead(req.url?.startsWith('/ok') ? 200 : 500).end()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  nats = await startTestNats()
  app = await launch(['--tier', 'processor,query-api'], {
    NATS_URL: nats.url,
    DATA_DIR: tempDir('routes'),
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    POSTBACK_ALLOW_PRIVATE: 'true',
    POSTBACK_RETRY_BASE_MS: '50',
    POSTBACK_MAX_ATTEMPTS: '5',
    ...TEST_SECRETS,
  })
  nc = await connect({ servers: nats.url })
  aff = (await op()('POST', '/api/affiliates', { name: 'Editor Media' })).body.id
  other = (await op()('POST', '/api/affiliates', { name: 'Someone else' })).body.id
  affToken = (await op()('POST', `/api/affiliates/${aff}/tokens`, { ttlDays: 2 })).body.token
  otherToken = (await op()('POST', `/api/affiliates/${other}/tokens`, { ttlDays: 2 })).body.token
}, 120_000)

afterAll(async () => {
  await nc?.close()
  await app?.stop()
  await nats?.stop()
  server?.close()
})

type AuditItem = { by: string; action: string; key: string; before?: Record<string, unknown>; after?: Record<string, unknown>; note?: string }
const auditOf = async (entity: string, key: number | string) => (await op()('GET', `/api/audit?entity=${entity}&key=${key}`)).body.items as AuditItem[]
const sha = (s: string) => createHash('sha256').update(s).digest('hex')
const storedSource = async (id: number) => {
  const kv = await nc.jetstream().views.kv('sources', { bindOnly: true })
  return JSON.parse((await kv.get(`s.${id}`))!.string()) as Record<string, unknown>
}

describe('PATCH /api/links/:id destination', () => {
  it('changes the destination, is audited with before and after, and refuses a bad URL naming the field', async () => {
    const link = (await op()('POST', '/api/links', { affiliateId: aff, destination: 'https://old.example/?c={click_id}' })).body
    const r = await op()('PATCH', `/api/links/${link.id}`, { destination: 'https://new.example/land?c={click_id}&s={sub1}' })
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ id: link.id, code: link.code, destination: 'https://new.example/land?c={click_id}&s={sub1}' })
    const rec = (await auditOf('link', link.id))[0]!
    expect(rec).toMatchObject({ by: 'operator', action: 'update', before: { destination: 'https://old.example/?c={click_id}' }, after: { destination: 'https://new.example/land?c={click_id}&s={sub1}' } })

    for (const destination of ['ftp://x.example/', 'https://{sub1}.example/', 'not a url', null, 7]) {
      const bad = await op()('PATCH', `/api/links/${link.id}`, { destination })
      expect(bad.status, JSON.stringify(destination)).toBe(400)
      expect(Object.keys(bad.body.fields)).toEqual(['destination'])
    }
    expect((await op()('PATCH', '/api/links/999999', { destination: 'https://x.example/' })).status).toBe(404)
    expect((await api(app.url, affToken)('PATCH', `/api/links/${link.id}`, { destination: 'https://mine.example/' })).status).toBe(403)
    expect((await auditOf('link', link.id)).length).toBe(2) // create, one update: nothing refused was recorded
  })
})

describe('PATCH /api/sources/:id name', () => {
  it('renames a source, audited; an empty name is a 400; affiliates may not', async () => {
    const src = (await op()('POST', '/api/sources', { name: 'Old platform' })).body
    const r = await op()('PATCH', `/api/sources/${src.id}`, { name: 'New platform' })
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ id: src.id, name: 'New platform' })
    expect(r.body.token).toBeUndefined()
    expect((await auditOf('source', src.id))[0]).toMatchObject({ by: 'operator', before: { name: 'Old platform' }, after: { name: 'New platform' } })
    const bad = await op()('PATCH', `/api/sources/${src.id}`, { name: '  ' })
    expect(bad.status).toBe(400)
    expect(bad.body.fields).toHaveProperty('name')
    expect((await op()('PATCH', `/api/sources/${src.id}`, { name: null })).status).toBe(400)
    expect((await api(app.url, affToken)('PATCH', `/api/sources/${src.id}`, { name: 'x' })).status).toBe(403)
  })
})

describe('POST /api/sources/:id/rotate', () => {
  it('a token source: a new token shown once, the previous one kept for the grace period, no secret in the audit log', async () => {
    const src = (await op()('POST', '/api/sources', { name: 'Rotating' })).body
    const before = Date.now()
    const r = await op()('POST', `/api/sources/${src.id}/rotate`, { graceHours: 2 })
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ id: src.id, name: 'Rotating', auth: 'token' })
    expect(r.body.token).toMatch(/^[A-Za-z0-9_-]{32}$/)
    expect(r.body.token).not.toBe(src.token)
    const until = Date.parse(r.body.previousValidUntil)
    expect(until).toBeGreaterThanOrEqual(before + 2 * 3_600_000)
    expect(until).toBeLessThanOrEqual(Date.now() + 2 * 3_600_000)

    const stored = await storedSource(src.id)
    expect(stored).toMatchObject({ tokenHash: sha(r.body.token), previousTokenHash: sha(src.token), previousValidUntil: until })
    // the list shows until when the previous token works, never a secret
    const listed = (await op()('GET', '/api/sources?limit=1000')).body.items.find((s: { id: number }) => s.id === src.id)
    expect(listed).toEqual(expect.objectContaining({ previousValidUntil: r.body.previousValidUntil }))
    expect(Object.keys(listed).filter((k) => /token|secret|hash/i.test(k))).toEqual([])
    expect(JSON.stringify(listed)).not.toContain(r.body.token)

    const rec = (await auditOf('source', src.id))[0]!
    expect(rec).toMatchObject({ by: 'operator', action: 'update' })
    const text = JSON.stringify(await auditOf('source', src.id))
    for (const secret of [r.body.token, src.token, sha(r.body.token), sha(src.token)]) expect(text).not.toContain(secret)
  })

  it('an HMAC source: a new key in `secret`, the previous key kept; grace 0 keeps none', async () => {
    const src = (await op()('POST', '/api/sources', { name: 'Signed', auth: 'hmac' })).body
    const r = await op()('POST', `/api/sources/${src.id}/rotate`, {})
    expect(r.status).toBe(200)
    expect(r.body.secret).toBeDefined()
    expect(r.body.token).toBeUndefined()
    expect(Date.parse(r.body.previousValidUntil) - Date.now()).toBeGreaterThan(23.9 * 3_600_000) // default 24 hours
    expect(await storedSource(src.id)).toMatchObject({ hmacSecret: r.body.secret, previousHmacSecret: src.secret })
    expect(JSON.stringify(await auditOf('source', src.id))).not.toContain(src.secret)
    expect(JSON.stringify(await auditOf('source', src.id))).not.toContain(r.body.secret)

    const now = await op()('POST', `/api/sources/${src.id}/rotate`, { graceHours: 0 })
    expect(now.body.previousValidUntil).toBeNull()
    const stored = await storedSource(src.id)
    expect(stored.hmacSecret).toBe(now.body.secret)
    expect(stored).not.toHaveProperty('previousHmacSecret')
    expect(stored).not.toHaveProperty('previousValidUntil')
  })

  it('refuses a bad grace period, an unknown source and an affiliate', async () => {
    const src = (await op()('POST', '/api/sources', { name: 'Strict' })).body
    for (const graceHours of [-1, 721, 1.5, '24', true]) {
      const r = await op()('POST', `/api/sources/${src.id}/rotate`, { graceHours })
      expect(r.status, JSON.stringify(graceHours)).toBe(400)
      expect(Object.keys(r.body.fields)).toEqual(['graceHours'])
    }
    expect((await op()('POST', '/api/sources/999999/rotate', {})).status).toBe(404)
    expect((await api(app.url, affToken)('POST', `/api/sources/${src.id}/rotate`, {})).status).toBe(403)
    expect(await storedSource(src.id)).toMatchObject({ tokenHash: sha(src.token) })
  })
})

describe('PATCH /api/postbacks/endpoints/:id', () => {
  it('an affiliate changes its own endpoint (audited as itself), not another’s; the operator any', async () => {
    const ep = (await api(app.url, affToken)('POST', '/api/postbacks/endpoints', { events: ['ftd'], url: 'https://t.example/a?c={click_id}' })).body
    const r = await api(app.url, affToken)('PATCH', `/api/postbacks/endpoints/${ep.id}`, { events: ['ftd', 'deposit'], url: 'https://t.example/b?c={click_id}&a={amount}' })
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ id: ep.id, affiliateId: aff, events: ['ftd', 'deposit'], url: 'https://t.example/b?c={click_id}&a={amount}', status: 'active' })
    expect((await auditOf('endpoint', ep.id))[0]).toMatchObject({ by: `affiliate:${aff}`, action: 'update', before: { events: ['ftd'] }, after: { events: ['ftd', 'deposit'] } })

    expect((await api(app.url, otherToken)('PATCH', `/api/postbacks/endpoints/${ep.id}`, { status: 'paused' })).status).toBe(404)
    const paused = await op()('PATCH', `/api/postbacks/endpoints/${ep.id}`, { status: 'paused' })
    expect(paused.body).toMatchObject({ status: 'paused', events: ['ftd', 'deposit'] })
    expect((await auditOf('endpoint', ep.id))[0]).toMatchObject({ by: 'operator', after: { status: 'paused' } })

    for (const [body, field] of [
      [{ events: [] }, 'events'],
      [{ events: ['click'] }, 'events.0'],
      [{ url: 'https://t.example/?x={sub9}' }, 'url'],
      [{ status: 'gone' }, 'status'],
      [{ affiliateId: other }, '_'],
    ] as const) {
      const bad = await api(app.url, affToken)('PATCH', `/api/postbacks/endpoints/${ep.id}`, body)
      expect(bad.status, JSON.stringify(body)).toBe(400)
      expect(Object.keys(bad.body.fields), JSON.stringify(body)).toContain(field)
    }
    expect((await op()('PATCH', '/api/postbacks/endpoints/999999', { status: 'active' })).status).toBe(404)
  })
})

describe('POST /api/tokens/renew and whoami', () => {
  it('an affiliate renews its own token; whoami tells when each expires; audited as the affiliate', async () => {
    const me = api(app.url, affToken)
    expect((await me('GET', '/api/whoami')).body).toEqual({ kind: 'affiliate', affiliateId: aff, expiresAt: new Date(Number(affToken.split('.')[2])).toISOString() })
    const r = await me('POST', '/api/tokens/renew', { ttlDays: 10 })
    expect(r.status).toBe(201)
    expect(r.body.affiliateId).toBe(aff)
    expect(Math.abs(Date.parse(r.body.expiresAt) - (Date.now() + 10 * 86_400_000))).toBeLessThan(60_000)
    expect((await api(app.url, r.body.token)('GET', '/api/whoami')).body).toEqual({ kind: 'affiliate', affiliateId: aff, expiresAt: r.body.expiresAt })
    const rec = (await auditOf('affiliate', aff))[0]!
    expect(rec).toMatchObject({ by: `affiliate:${aff}`, after: { portalTokenIssued: { expiresAt: r.body.expiresAt } } })
    expect(JSON.stringify(rec)).not.toContain(r.body.token)
    // the default is 30 days; more than a year is refused
    expect(Date.parse((await me('POST', '/api/tokens/renew', {})).body.expiresAt) - Date.now()).toBeGreaterThan(29.9 * 86_400_000)
    expect((await me('POST', '/api/tokens/renew', { ttlDays: 366 })).status).toBe(400)
  })

  it('needs a valid affiliate token: not the operator, not an expired or suspended one', async () => {
    expect((await op()('POST', '/api/tokens/renew', {})).status).toBe(403)
    expect((await fetch(`${app.url}/api/tokens/renew`, { method: 'POST' })).status).toBe(401)
    const gone = (await op()('POST', '/api/affiliates', { name: 'Leaving' })).body.id
    const token = (await op()('POST', `/api/affiliates/${gone}/tokens`, {})).body.token
    await op()('PATCH', `/api/affiliates/${gone}`, { status: 'suspended' })
    const refused = await waitFor('the suspension to reach the API', () => api(app.url, token)('POST', '/api/tokens/renew', {}), (r) => r.status === 403, 10_000)
    expect(refused.body.error).toBe('affiliate_suspended')
  })
})

describe('POST /api/postbacks/endpoints/:id/test', () => {
  type Attempt = { eventId: string; attempt: number; outcome: string; statusCode: number; url: string; test: boolean }

  it('fires the chosen kind with a realistic sample, marked as a test, tried once and never retried', async () => {
    const ep = (await api(app.url, affToken)('POST', '/api/postbacks/endpoints', {
      events: ['registration', 'ftd', 'deposit'],
      url: `${base}/no?e={event}&a={amount}&c={currency}&p={player}&id={event_id}`,
    })).body
    const r = await api(app.url, affToken)('POST', `/api/postbacks/endpoints/${ep.id}/test`, { kind: 'deposit' })
    expect(r.status).toBe(202)
    expect(r.body).toMatchObject({ status: 'queued', eventId: expect.stringMatching(/^test:/) })
    expect(r.body.url).toBe(`${base}/no?e=deposit&a=100.00&c=EUR&p=test-player-0001&id=${r.body.eventId.slice(5)}`)
    const tries = await waitFor(
      'the test try',
      async () => (await api(app.url, affToken)('GET', `/api/postbacks/attempts?eventId=${r.body.eventId}`)).body.items as Attempt[],
      (items) => items.length > 0,
      30_000,
    )
    expect(tries).toEqual([expect.objectContaining({ attempt: 1, statusCode: 500, outcome: 'dead', test: true })])
    // well past the retry delays (50 ms, doubling): still the one try
    await new Promise((res) => setTimeout(res, 1500))
    expect((await op()('GET', `/api/postbacks/attempts?eventId=${r.body.eventId}`)).body.items).toHaveLength(1)
    expect(hits.filter((h) => h.includes(r.body.eventId.slice(5)))).toHaveLength(1)
  })

  it('defaults to the endpoint’s first kind; an FTD sample is 50.00 EUR; a kind the endpoint does not take is a 400', async () => {
    const ep = (await op()('POST', '/api/postbacks/endpoints', { affiliateId: aff, events: ['ftd', 'registration'], url: `${base}/ok?e={event}&a={amount}&c={currency}` })).body
    const r = await op()('POST', `/api/postbacks/endpoints/${ep.id}/test`)
    expect(r.status).toBe(202)
    expect(r.body.url).toBe(`${base}/ok?e=ftd&a=50.00&c=EUR`)
    const tries = await waitFor(
      'the test delivery',
      async () => (await op()('GET', `/api/postbacks/attempts?eventId=${r.body.eventId}`)).body.items as Attempt[],
      (items) => items.length > 0,
      30_000,
    )
    expect(tries).toEqual([expect.objectContaining({ outcome: 'delivered', test: true })])
    const reg = await op()('POST', `/api/postbacks/endpoints/${ep.id}/test`, { kind: 'registration' })
    expect(reg.body.url).toBe(`${base}/ok?e=registration&a=&c=`)
    const bad = await op()('POST', `/api/postbacks/endpoints/${ep.id}/test`, { kind: 'deposit' })
    expect(bad.status).toBe(400)
    expect(bad.body.fields).toHaveProperty('kind')
    expect((await op()('POST', `/api/postbacks/endpoints/${ep.id}/test`, { kind: 'click' })).status).toBe(400)
    expect((await api(app.url, otherToken)('POST', `/api/postbacks/endpoints/${ep.id}/test`, {})).status).toBe(404)
  })

  it('a real delivery’s attempts are not marked as tests', async () => {
    const items = (await op()('GET', '/api/postbacks/attempts?limit=1000')).body.items as Attempt[]
    expect(items.every((a) => a.test === a.eventId.startsWith('test:'))).toBe(true)
  })
})

describe("the query-api's entity index", () => {
  it('shows a create and an update made through the API to the very next list and get', async () => {
    const made = (await op()('POST', '/api/affiliates', { name: 'Fresh Media' })).body
    expect((await op()('GET', `/api/affiliates/${made.id}`)).body).toMatchObject({ id: made.id, name: 'Fresh Media' })
    await op()('PATCH', `/api/affiliates/${made.id}`, { name: 'Fresh Media Ltd' })
    expect((await op()('GET', `/api/affiliates/${made.id}`)).body.name).toBe('Fresh Media Ltd')

    const link = (await op()('POST', '/api/links', { affiliateId: made.id, destination: 'https://fresh.example/' })).body
    const listed = async () => (await op()('GET', `/api/links?affiliateId=${made.id}`)).body.items as { id: number; status: string }[]
    expect(await listed()).toEqual([expect.objectContaining({ id: link.id, status: 'active' })])
    expect((await op()('PATCH', `/api/links/${link.id}`, { status: 'paused' })).status).toBe(200)
    expect(await listed()).toEqual([expect.objectContaining({ id: link.id, status: 'paused' })])
  })

  it("shows another process's change once its watch delivers it", async () => {
    const elsewhere = await EntityStore.open(nc)
    try {
      const brand = await elsewhere.brands.create({ name: 'Made elsewhere' }, Date.now())
      await waitFor('the brand in the list', async () => (await op()('GET', '/api/brands?limit=1000')).body.items as { id: number }[], (items) => items.some((b) => b.id === brand.id), 5_000)
      await elsewhere.brands.update(brand.id, { status: 'paused' }, Date.now())
      await waitFor(
        'the paused brand',
        async () => (await op()('GET', '/api/brands?status=paused&limit=1000')).body.items as { id: number }[],
        (items) => items.some((b) => b.id === brand.id),
        5_000,
      )
    } finally {
      elsewhere.stop()
    }
  })
})
