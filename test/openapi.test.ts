/**
 * The served OpenAPI document is generated from the routes: every /api route registered is
 * in it and nothing else, request bodies and queries come from the validating zod schemas,
 * who may call each route from its config, and it is served only to a caller who
 * authenticates.
 */
import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { errorHandler } from '../common/errors.js'
import { apiApp, type ApiDeps } from '../query-api/app.js'
import { Auth } from '../query-api/auth.js'
import { TEST_SECRETS } from './helpers/config.js'

async function app() {
  const a = Fastify({ logger: false })
  a.setErrorHandler(errorHandler)
  const routes: string[] = []
  a.addHook('onRoute', (r) => {
    for (const m of [r.method].flat()) if (m !== 'HEAD' && r.url.startsWith('/api/') && r.url !== '/api/*') routes.push(`${m.toLowerCase()} ${r.url}`)
  })
  await a.register(apiApp, { store: {} as never, ch: {} as never, auth: new Auth(TEST_SECRETS.OPERATOR_API_KEY, TEST_SECRETS.TOKEN_SECRET), status: async () => ({}) } satisfies ApiDeps)
  await a.ready()
  return { a, routes }
}
const operator = { authorization: `Bearer ${TEST_SECRETS.OPERATOR_API_KEY}` }

describe('OpenAPI document', () => {
  it('names exactly the registered /api routes', async () => {
    const { a, routes } = await app()
    const doc = (await a.inject({ url: '/api/openapi.json', headers: operator })).json()
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m} ${path.replace(/\{([A-Za-z]+)\}/g, ':$1')}`),
    )
    expect(documented.sort()).toEqual([...new Set(routes)].sort())
    expect(routes).toEqual(expect.arrayContaining(['patch /api/links/:id', 'post /api/sources/:id/rotate', 'patch /api/postbacks/endpoints/:id', 'post /api/tokens/renew']))
  })

  it('is served to an authenticated caller, with request schemas from the zod validators', async () => {
    const { a } = await app()
    expect((await a.inject({ url: '/api/openapi.json' })).statusCode).toBe(401)
    const r = await a.inject({ url: '/api/openapi.json', headers: operator })
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
    expect(doc.paths['/api/sources'].get.description).toBe('Who may call it: operator.')
    expect(doc.paths['/api/links'].get.description).toBe('Who may call it: operator or affiliate.')
    expect(doc.paths['/api/tokens/renew'].post.description).toBe('Who may call it: affiliate.')
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, { description: string }>>))
      for (const op of Object.values(ops)) expect(op.description, path).toMatch(/^Who may call it: /)
  })
})
