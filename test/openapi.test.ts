/**
 * The served OpenAPI document matches the routes: every /api route registered has an entry,
 * every entry is a registered route, request bodies and queries come from the validating
 * zod schemas, and the document is served only to a caller who authenticates.
 */
import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { Auth } from '../query-api/auth.js'
import { API_DOCS, apiRoutes, type ApiDeps } from '../query-api/routes.js'
import { TEST_SECRETS } from './helpers/config.js'

async function app() {
  const a = Fastify({ logger: false })
  const routes: string[] = []
  a.addHook('onRoute', (r) => {
    for (const m of [r.method].flat()) if (m !== 'HEAD' && r.url.startsWith('/api/') && r.url !== '/api/*') routes.push(`${m.toLowerCase()} ${r.url}`)
  })
  apiRoutes(a, { store: {} as never, ch: {} as never, auth: new Auth(TEST_SECRETS.OPERATOR_API_KEY, TEST_SECRETS.TOKEN_SECRET), status: async () => ({}) } satisfies ApiDeps)
  await a.ready()
  return { a, routes }
}

describe('OpenAPI document', () => {
  it('names exactly the registered /api routes', async () => {
    const { routes } = await app()
    expect(API_DOCS.map((d) => `${d.method} ${d.path}`).sort()).toEqual([...new Set(routes)].sort())
  })

  it('is served to an authenticated caller, with request schemas from the zod validators', async () => {
    const { a } = await app()
    expect((await a.inject({ url: '/api/openapi.json' })).statusCode).toBe(401)
    const r = await a.inject({ url: '/api/openapi.json', headers: { authorization: `Bearer ${TEST_SECRETS.OPERATOR_API_KEY}` } })
    expect(r.statusCode).toBe(200)
    const doc = r.json()
    expect(doc.openapi).toBe('3.1.0')
    expect(Object.keys(doc.paths)).toContain('/api/affiliates/{id}/tokens')
    const reassign = doc.paths['/api/players/reassign'].post
    expect(reassign.requestBody.content['application/json'].schema).toMatchObject({
      type: 'object',
      required: expect.arrayContaining(['playerId', 'affiliateId', 'note']),
      properties: { affiliateId: { type: 'integer', minimum: 0 } },
    })
    const events = doc.paths['/api/events'].get
    expect(events.parameters.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['kind', 'status', 'limit', 'cursor']))
    expect(events.parameters.find((p: { name: string }) => p.name === 'kind').schema.enum).toContain('challenge_funded')
    expect(doc.paths['/api/sources/{id}'].patch.parameters[0]).toMatchObject({ name: 'id', in: 'path', required: true })
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, { description: string }>>))
      for (const op of Object.values(ops)) expect(op.description, path).toMatch(/^Who may call it: /)
  })
})
