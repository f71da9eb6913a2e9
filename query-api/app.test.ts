/**
 * The API plugin through `inject`, without a store behind it: who may call each route is
 * checked before anything is parsed, and bad input is a 400 naming the field before any
 * handler runs (a handler reached here would fail on the empty store with a 500).
 */
import Fastify, { type FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorHandler } from '../common/errors.js'
import { TEST_SECRETS } from '../test/helpers/config.js'
import { apiApp } from './app.js'
import { Auth } from './auth.js'

let app: FastifyInstance
const routes: { method: string; url: string }[] = []
const auth = new Auth(TEST_SECRETS.OPERATOR_API_KEY, TEST_SECRETS.TOKEN_SECRET)
const OP = { authorization: `Bearer ${TEST_SECRETS.OPERATOR_API_KEY}` }
const AFF = { authorization: `Bearer ${auth.issueAffiliateToken(7, Date.now() + 3_600_000)}` }

beforeAll(async () => {
  app = Fastify({ logger: false })
  app.setErrorHandler(errorHandler)
  app.addHook('onRoute', (r) => {
    for (const m of [r.method].flat()) if (m !== 'HEAD' && r.url.startsWith('/api/')) routes.push({ method: m, url: r.url })
  })
  await app.register(apiApp, { store: {} as never, ch: {} as never, auth, status: async () => ({}) })
  await app.ready()
})
afterAll(() => app.close())

const call = (method: string, url: string, headers: Record<string, string> = {}, payload?: unknown) =>
  app.inject({
    method: method as 'GET',
    url,
    headers: payload === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    payload: payload === undefined ? undefined : JSON.stringify(payload),
  })

describe('who may call a route: checked before validation', () => {
  it('answers 401 on every /api route without a credential, whatever the body, params and query', async () => {
    expect(routes.length).toBeGreaterThan(35)
    for (const r of routes) {
      // Garbage everywhere: were validation first, these would be 400s with field details.
      const url = r.url.replace(/:[A-Za-z]+/g, 'not-an-id').replace('*', 'anything') + '?limit=-1&from=junk&affiliateId=x'
      const res = await call(r.method, url, {}, ['DELETE', 'GET'].includes(r.method) ? undefined : { affiliateId: 'x', eventId: 5 })
      expect(res.statusCode, `${r.method} ${r.url}`).toBe(401)
      expect(res.json(), `${r.method} ${r.url}`).toEqual({ error: 'unauthorized', reason: expect.any(String) })
    }
  })

  it('POST /api/postbacks/refire with no credential is a 401, not a 400 naming fields', async () => {
    const r = await call('POST', '/api/postbacks/refire', {}, {})
    expect(r.statusCode).toBe(401)
    expect(r.json().fields).toBeUndefined()
  })

  it.each([
    ['POST', '/api/affiliates'],
    ['POST', '/api/sources/1/rotate'],
    ['PATCH', '/api/links/1'],
    ['PATCH', '/api/sources/1'],
    ['GET', '/api/reports/unattributed'],
    ['POST', '/api/import/affiliates'],
  ])('an affiliate may not %s %s: 403 before its (bad) input is looked at', async (method, url) => {
    const r = await call(method, `${url}?from=junk`, AFF, method === 'GET' ? undefined : { nonsense: true })
    expect(r.statusCode).toBe(403)
    expect(r.json()).toMatchObject({ error: 'forbidden' })
  })

  it('the operator may not renew an affiliate token (affiliates only)', async () => {
    expect((await call('POST', '/api/tokens/renew', OP, {})).statusCode).toBe(403)
  })

  it('an unknown /api route is a 401 without a credential and a 404 with one', async () => {
    expect((await call('DELETE', '/api/nothing-here')).statusCode).toBe(401)
    expect((await call('DELETE', '/api/nothing-here', OP)).json()).toMatchObject({ error: 'not_found' })
  })
})

describe('bad input: 400 {error, reason, fields} naming each field', () => {
  it('names every wrong field of a body', async () => {
    const r = await call('POST', '/api/deals/cpa', OP, { affiliateId: 1, amount: '-3', currency: 'EURO' })
    expect(r.statusCode).toBe(400)
    expect(r.json()).toMatchObject({ error: 'invalid_request', reason: expect.stringContaining('currency') })
    expect(Object.keys(r.json().fields).sort()).toEqual(['amount', 'currency'])
  })

  // JSON integers only: nothing is coerced into an id.
  it.each<[string, unknown]>([
    ['true', true],
    ['"2"', '2'],
    ['"0x2"', '0x2'],
    ['"2e0"', '2e0'],
    ['" 2 "', ' 2 '],
    ['[2]', [2]],
    ['2.5', 2.5],
    ['0', 0],
    ['-1', -1],
    ['null', null],
  ])('a body id of %s is a 400 naming it', async (_n, v) => {
    for (const [method, url, body, field] of [
      ['POST', '/api/links', { affiliateId: v, destination: 'https://x.example/' }, 'affiliateId'],
      ['POST', '/api/links', { affiliateId: 1, offerId: v }, 'offerId'],
      ['POST', '/api/deals/cpa', { affiliateId: v, amount: '1', currency: 'EUR' }, 'affiliateId'],
      ['POST', '/api/affiliates', { name: 'x', parentId: v }, 'parentId'],
      ['PATCH', '/api/affiliates/1', { parentId: v === null ? 'x' : v }, 'parentId'],
      ['POST', '/api/postbacks/refire', { eventId: 'e', endpointId: v }, 'endpointId'],
      ['POST', '/api/postbacks/endpoints', { affiliateId: v, events: ['ftd'], url: 'https://t.example/' }, 'affiliateId'],
    ] as const) {
      const r = await call(method, url, OP, body)
      expect(r.statusCode, `${method} ${url} ${JSON.stringify(body)}`).toBe(400)
      expect(Object.keys(r.json().fields), `${method} ${url}`).toContain(field)
    }
  })

  it('an affiliate’s link-builder body takes JSON integers only too', async () => {
    for (const v of [true, '2', [2], 2.5]) {
      const r = await call('POST', '/api/links', AFF, { offerId: v })
      expect(r.statusCode).toBe(400)
      expect(Object.keys(r.json().fields)).toContain('offerId')
    }
  })

  // Path and query ids: decimal digits only.
  it.each(['0x2', '2e0', '%202%20', '+2', '-2', '2.5', '0', 'two', '99999999999'])('a path or query id of %s is a 400', async (v) => {
    for (const [method, url, field] of [
      ['GET', `/api/affiliates/${v}`, 'id'],
      ['PATCH', `/api/brands/${v}`, 'id'],
      ['DELETE', `/api/postbacks/endpoints/${v}`, 'id'],
      ['GET', `/api/links?affiliateId=${v}`, 'affiliateId'],
      ['GET', `/api/events?affiliateId=${v}`, 'affiliateId'],
      ['GET', `/api/postbacks/attempts?endpointId=${v}`, 'endpointId'],
      ['GET', `/api/affiliates?limit=${v}`, 'limit'],
    ] as const) {
      const r = await call(method, url, OP, method === 'PATCH' ? {} : undefined)
      expect(r.statusCode, `${method} ${url}`).toBe(400)
      expect(Object.keys(r.json().fields), `${method} ${url}`).toContain(field)
    }
  })
})

describe('dates outside what the store holds are a 400 with a reason', () => {
  const BAD = ['1969-12-31T23:59:59Z', '0000-01-01T00:00:00Z', '+010000-01-01T00:00:00Z', '10000-01-01', '2106-02-08T00:00:00Z', 'junk', '5', '2026-13-01', '']
  // Every date parameter of every route; the first test keeps this list equal to the document's.
  const DATE_PARAMS = [
    { path: '/api/events', name: 'from', affiliate: true },
    { path: '/api/events', name: 'to', affiliate: true },
    { path: '/api/reports/summary', name: 'from', affiliate: true },
    { path: '/api/reports/summary', name: 'to', affiliate: true },
    { path: '/api/reports/unattributed', name: 'from', affiliate: false },
    { path: '/api/reports/unattributed', name: 'to', affiliate: false },
    { path: '/api/fraud/findings', name: 'from', affiliate: true },
    { path: '/api/fraud/findings', name: 'to', affiliate: true },
    { path: '/api/fraud/summary', name: 'from', affiliate: false },
    { path: '/api/fraud/summary', name: 'to', affiliate: false },
    { path: '/api/fraud/ctit', name: 'from', affiliate: false },
    { path: '/api/fraud/ctit', name: 'to', affiliate: false },
  ]

  it('covers every date parameter the document names, and who may call each route', async () => {
    const doc = (await call('GET', '/api/openapi.json', OP)).json()
    const found: typeof DATE_PARAMS = []
    for (const [path, ops] of Object.entries(
      doc.paths as Record<string, Record<string, { description: string; parameters?: { name: string; in: string; schema: unknown }[] }>>,
    ))
      for (const op of Object.values(ops))
        for (const p of op.parameters ?? [])
          if (p.in === 'query' && JSON.stringify(p.schema).includes('"format":"date'))
            found.push({ path, name: p.name, affiliate: op.description.includes('affiliate') })
    expect(found.sort((a, b) => `${a.path} ${a.name}`.localeCompare(`${b.path} ${b.name}`))).toEqual(
      [...DATE_PARAMS].sort((a, b) => `${a.path} ${a.name}`.localeCompare(`${b.path} ${b.name}`)),
    )
  })

  it.each(BAD)('%s is refused on every date parameter, as operator and as affiliate', async (bad) => {
    for (const p of DATE_PARAMS) {
      for (const [who, headers] of [
        ['operator', OP],
        ['affiliate', AFF],
      ] as const) {
        const r = await call('GET', `${p.path}?${p.name}=${encodeURIComponent(bad)}`, headers)
        if (who === 'affiliate' && !p.affiliate) {
          expect(r.statusCode, `${who} ${p.path} ${p.name}`).toBe(403)
          continue
        }
        expect(r.statusCode, `${who} ${p.path} ${p.name}=${bad}`).toBe(400)
        expect(r.json(), `${who} ${p.path} ${p.name}=${bad}`).toMatchObject({
          error: 'invalid_request',
          reason: expect.stringContaining(p.name),
          fields: { [p.name]: expect.any(String) },
        })
      }
    }
  })
})
