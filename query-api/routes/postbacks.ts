/**
 * Outbound postbacks: an affiliate manages its own endpoints (an operator any affiliate's),
 * reads every try, fires an event again, and test-fires a sample.
 */
import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import { EndpointSchema, type Endpoint } from '../../common/entities.js'
import { HttpError } from '../../common/errors.js'
import { CONVERSION_KINDS } from '../../common/events.js'
import { isPrivateHost } from '../../common/ipallow.js'
import { deliverySubject } from '../../common/subjects.js'
import { clickSubs } from '../../common/clicksubs.js'
import { deliveryFor, TEST_EVENT_PREFIX, usesSubs, type Delivery, type Notice } from '../../common/outbound.js'
import { scopeAffiliate } from '../auth.js'
import { actor, OPERATOR_OR_AFFILIATE, BodyId, IdParams, Limit, Page, page, ParamId, publisher, type ApiDeps, type ApiPlugin } from '../http.js'
import { attempts, attributedEvent } from '../outbound.js'
import type { FastifyRequest } from 'fastify'

const Kinds = z.array(z.enum(CONVERSION_KINDS)).min(1).max(CONVERSION_KINDS.length)
const CreateEndpoint = z.object({ affiliateId: BodyId.optional(), events: Kinds, url: EndpointSchema.shape.url }).strict()
const UpdateEndpoint = z.object({ events: Kinds, url: EndpointSchema.shape.url, status: z.enum(['active', 'paused']) }).partial().strict()
const EndpointList = Page.extend({ affiliateId: ParamId.optional() })
const AttemptsQuery = z.object({ affiliateId: ParamId.optional(), eventId: z.string().max(300).optional(), endpointId: ParamId.optional(), limit: Limit })
const Refire = z.object({ eventId: z.string().min(1).max(300), endpointId: BodyId }).strict()
const TestFire = z.object({ kind: z.enum(CONVERSION_KINDS).optional() }).strict()

/** What a sample of each kind carries: money kinds a realistic amount and its currency. */
const SAMPLE_MONEY: Partial<Record<(typeof CONVERSION_KINDS)[number], { amount: string; currency: string }>> = {
  registration: undefined,
  ftd: { amount: '50.00', currency: 'EUR' },
  deposit: { amount: '100.00', currency: 'EUR' },
  withdrawal: { amount: '40.00', currency: 'EUR' },
  chargeback: { amount: '100.00', currency: 'EUR' },
  refund: { amount: '25.00', currency: 'EUR' },
  challenge_purchase: { amount: '99.00', currency: 'USD' },
  challenge_reset: { amount: '49.00', currency: 'USD' },
  challenge_refund: { amount: '99.00', currency: 'USD' },
}
export const SAMPLE_PLAYER = 'test-player-0001'
export const TEST_CLICK_ID = 'TEST_CLICK_ID'

/** A sample event of a kind for an endpoint, marked as a test by its id. */
export function sampleNotice(ep: Endpoint, kind: string, now: number): Notice {
  const money = SAMPLE_MONEY[kind as keyof typeof SAMPLE_MONEY]
  return { eventId: `${TEST_EVENT_PREFIX}${randomUUID()}`, kind, ts: now, affiliateId: ep.affiliateId, offerId: 0, clickId: TEST_CLICK_ID, player: SAMPLE_PLAYER, amount: money?.amount ?? '', currency: money?.currency ?? '' }
}

const urlIsPublic = (d: ApiDeps, url: string) => {
  if (!d.allowPrivateEndpoints && isPrivateHost(new URL(url).hostname))
    throw new HttpError(400, 'invalid_request', 'the URL points at a loopback or private address', { url: 'must be a public address' })
}

export const postbackRoutes: ApiPlugin = (app, d) => {
  /** The endpoint, if the caller may act on it (an affiliate: only its own; others look absent). */
  const ownEndpoint = async (req: FastifyRequest, id: number) => {
    const p = req.principal
    const ep = d.store.endpoints.get(id)
    if (!ep || (p.kind !== 'operator' && ep.affiliateId !== p.affiliateId)) throw new HttpError(404, 'not_found', 'no such endpoint')
    return ep
  }
  const queue = async (delivery: Delivery) => {
    await publisher(d)(deliverySubject(delivery.endpointId), new TextEncoder().encode(JSON.stringify(delivery)), delivery.id)
  }

  app.post('/api/postbacks/endpoints', { config: { who: OPERATOR_OR_AFFILIATE }, schema: { summary: 'Register an outbound postback endpoint', body: CreateEndpoint } }, async (req, reply) => {
    const body = req.body
    const affiliateId = scopeAffiliate(req.principal, body.affiliateId)
    if (affiliateId === undefined) throw new HttpError(400, 'invalid_request', 'affiliateId is required', { affiliateId: 'is required' })
    if (!d.store.affiliates.get(affiliateId)) throw new HttpError(404, 'not_found', `no affiliate ${affiliateId}`)
    urlIsPublic(d, body.url)
    return reply.code(201).send(await d.store.endpoints.create({ affiliateId, events: body.events, url: body.url }, Date.now(), actor(req.principal)))
  })

  app.get('/api/postbacks/endpoints', { config: { who: OPERATOR_OR_AFFILIATE }, schema: { summary: 'List outbound postback endpoints, filtered and paged', querystring: EndpointList } }, async (req) => {
    const affiliateId = scopeAffiliate(req.principal, req.query.affiliateId)
    return page(d.store.endpoints.list().filter((e) => affiliateId === undefined || e.affiliateId === affiliateId), req.query)
  })

  app.patch(
    '/api/postbacks/endpoints/:id',
    { config: { who: OPERATOR_OR_AFFILIATE }, schema: { summary: "Change an endpoint's event kinds, URL or status", params: IdParams, body: UpdateEndpoint } },
    async (req) => {
      const ep = await ownEndpoint(req, req.params.id)
      if (req.body.url !== undefined) urlIsPublic(d, req.body.url)
      return d.store.endpoints.update(ep.id, req.body, Date.now(), actor(req.principal))
    },
  )

  app.delete('/api/postbacks/endpoints/:id', { config: { who: OPERATOR_OR_AFFILIATE }, schema: { summary: 'Remove an endpoint', params: IdParams } }, async (req, reply) => {
    const ep = await ownEndpoint(req, req.params.id)
    await d.store.endpoints.delete(ep.id, Date.now(), actor(req.principal))
    return reply.code(204).send()
  })

  app.get('/api/postbacks/attempts', { config: { who: OPERATOR_OR_AFFILIATE }, schema: { summary: 'Every outbound try: URL, status, error, outcome', querystring: AttemptsQuery } }, async (req) => {
    const q = req.query
    return { items: await attempts(d.ch, { ...q, affiliateId: scopeAffiliate(req.principal, q.affiliateId) }) }
  })

  // Test-fire: a sample event (the kind asked for, else the endpoint's first) through the
  // same queue and log as a real one, so an affiliate can check its tracker from the portal.
  // One try, never retried: a test must not keep knocking on a tracker that said no.
  app.post(
    '/api/postbacks/endpoints/:id/test',
    { config: { who: OPERATOR_OR_AFFILIATE }, schema: { summary: 'Test-fire a sample event at an endpoint (one try, marked as a test)', params: IdParams, body: TestFire } },
    async (req, reply) => {
      const ep = await ownEndpoint(req, req.params.id)
      const kind = req.body.kind ?? ep.events[0]!
      if (!(ep.events as string[]).includes(kind))
        throw new HttpError(400, 'invalid_request', `the endpoint does not take ${kind} events`, { kind: `must be one of ${ep.events.join(', ')}` })
      const n = sampleNotice(ep, kind, Date.now())
      const delivery: Delivery = { ...deliveryFor(`dl:${n.eventId}:${ep.id}`, n, ep), test: true }
      await queue(delivery)
      return reply.code(202).send({ status: 'queued', deliveryId: delivery.id, eventId: n.eventId, url: delivery.url })
    },
  )

  // Fire an event's postback again (after the endpoint was fixed, say): a new delivery with
  // its own id, retried and logged like the first.
  app.post('/api/postbacks/refire', { config: { who: OPERATOR_OR_AFFILIATE }, schema: { summary: "Fire an attributed event's postback again", body: Refire } }, async (req, reply) => {
    const ep = await ownEndpoint(req, req.body.endpointId)
    const n = await attributedEvent(d.ch, req.body.eventId, ep.affiliateId)
    if (!n) throw new HttpError(404, 'not_found', `no event ${req.body.eventId} attributed to affiliate ${ep.affiliateId}`)
    const subs = n.clickId && usesSubs(ep.url) ? (await clickSubs(d.ch, [n])).get(n.clickId) : undefined
    const delivery = deliveryFor(`dl:${n.eventId}:${ep.id}:refire:${randomUUID()}`, n, ep, subs)
    await queue(delivery)
    return reply.code(202).send({ status: 'queued', deliveryId: delivery.id })
  })
}
