/**
 * The REST API as one Fastify plugin: a plugin per resource, zod schemas on every route,
 * who may call each route in its config (one hook checks it before anything is parsed),
 * the OpenAPI document generated from the routes. It listens nowhere: the launcher (or a
 * test's `inject`) gives it a server.
 */
import fastifyRateLimit from '@fastify/rate-limit'
import fastifySwagger from '@fastify/swagger'
import type { FastifyInstance } from 'fastify'
import { jsonSchemaTransform, type ZodTypeProvider } from 'fastify-type-provider-zod'
import { HttpError } from '../common/errors.js'
import { accessHook, ANY_PRINCIPAL, validatorCompiler, type ApiDeps, type ApiPlugin } from './http.js'
import { affiliateRoutes } from './routes/affiliates.js'
import { auditRoutes, importRoutes, systemRoutes } from './routes/admin.js'
import { brandRoutes, offerRoutes } from './routes/catalog.js'
import { dealRoutes } from './routes/deals.js'
import { fxRoutes } from './routes/fx.js'
import { ledgerRoutes } from './routes/ledger.js'
import { fraudRoutes } from './routes/fraud.js'
import { settlementRoutes } from './routes/settlement.js'
import { payoutRoutes } from './routes/payouts.js'
import { commissionRoutes } from './routes/commission.js'
import { linkRoutes } from './routes/links.js'
import { playerRoutes } from './routes/players.js'
import { postbackRoutes } from './routes/postbacks.js'
import { eventRoutes, reportRoutes } from './routes/reports.js'
import { sourceRoutes } from './routes/sources.js'

export type { ApiDeps }

const RESOURCES: ApiPlugin[] = [
  affiliateRoutes,
  brandRoutes,
  offerRoutes,
  linkRoutes,
  dealRoutes,
  ledgerRoutes,
  fraudRoutes,
  settlementRoutes,
  payoutRoutes,
  commissionRoutes,
  fxRoutes,
  sourceRoutes,
  reportRoutes,
  eventRoutes,
  playerRoutes,
  postbackRoutes,
  importRoutes,
  auditRoutes,
  systemRoutes,
]

const RESPONSES = {
  '200': { description: 'done' },
  '400': { description: 'invalid input: `{error, reason, fields}` naming each field and what is wrong' },
  '401': { description: 'no or invalid credential' },
  '403': { description: 'the credential may not do this (an affiliate asking for another affiliate, or a route not for its role)' },
  '429': { description: 'too many requests from this address: `Retry-After` says when to come back' },
}

/** Register in an encapsulated context: its hooks, validator and document cover /api only. */
export async function apiApp(app: FastifyInstance, d: ApiDeps) {
  app.setValidatorCompiler(validatorCompiler)
  // Every /api route says who may call it; a route that does not is a mistake caught at boot.
  app.addHook('onRoute', (r) => {
    if (!r.config?.who?.length) throw new Error(`route ${r.method} ${r.url} does not say who may call it (config.who)`)
  })
  if (d.rateLimit) {
    // Per client address (behind TRUST_PROXY's proxies, the address they forward), before
    // the credential is looked at: guessing keys costs the same as anything else.
    const { max, windowMs } = d.rateLimit
    await app.register(fastifyRateLimit, {
      max,
      timeWindow: windowMs,
      keyGenerator: (req) => req.ip,
      errorResponseBuilder: (_req, ctx) =>
        new HttpError(429, 'rate_limited', `too many requests from this address (at most ${ctx.max} in ${windowMs / 1000} s); try again in ${ctx.after}`),
    })
  }
  // Before the body is parsed or validated, after the rate limit (a route-level onRequest hook).
  app.addHook('preParsing', accessHook(d.auth))
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Affiliate platform API', version: '0.1.0', description: 'Send `Authorization: Bearer <operator key | affiliate token>`.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    transform: (doc) => {
      if (doc.url === '/api/*') return { schema: { hide: true } as never, url: doc.url }
      const t = jsonSchemaTransform(doc)
      const who = doc.route.config?.who ?? []
      return { ...t, schema: { ...t.schema, description: `Who may call it: ${who.join(' or ')}.`, security: [{ bearer: [] }], response: RESPONSES } as never }
    },
  })
  // A plugin per resource, each in its own context under this one's hooks and validator.
  for (const plugin of RESOURCES) await app.register(async (scope) => plugin(scope.withTypeProvider<ZodTypeProvider>(), d))

  app.get('/api/openapi.json', { config: { who: ANY_PRINCIPAL }, schema: { summary: 'This document' } }, async () => app.swagger())

  app.all('/api/*', { config: { who: ANY_PRINCIPAL } }, async (req) => {
    throw new HttpError(404, 'not_found', `no route ${req.method} ${req.url.split('?')[0]}`)
  })
}
