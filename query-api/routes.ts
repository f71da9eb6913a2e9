/**
 * REST under /api/. Every route resolves who is asking first; inputs are parsed with zod
 * and answered with a 4xx and a reason when wrong. API shapes (camelCase, no secrets) are
 * built explicitly from storage shapes.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { z } from 'zod'
import type { ClickHouseClient } from '../clickhouse/client.js'
import { randomUUID } from 'node:crypto'
import { CONVERSION_KINDS, encodeEvents, type ReassignEvent } from '../common/events.js'
import { deliverySubject, eventSubject, partitionOf } from '../common/subjects.js'
import { deliveryFor, usesSubs, type Delivery } from '../processor/outbound.js'
import { clickSubs } from '../processor/clicksubs.js'
import { openApi, type ApiDoc } from './openapi.js'
import { attempts, attributedEvent } from './outbound.js'
import { importRows, IMPORT_KINDS } from './import.js'
import type { KV } from 'nats'
import { isPrivateHost } from '../common/ipallow.js'
import { decodeCursor, eventLog } from './eventlog.js'
import { AUDIT_ENTITIES, EVENT_STATUSES } from '../common/vocabulary.js'
import { BrandInputSchema, EndpointSchema, HttpUrl, LINK_CODE, LinkSchema, LinkSettingsSchema, OfferInputSchema, patchOf, SourceSettingsSchema, type Actor, type EntityStore, type Offer, type Source } from '../common/entities.js'
import { AmountSchema, CurrencySchema } from '../common/money.js'
import { HttpError, requireOperator, scopeAffiliate, type Auth, type Principal } from './auth.js'
import { reconcile, summary } from './reports.js'

export type ApiDeps = {
  store: EntityStore
  ch: ClickHouseClient
  auth: Auth
  status: () => Promise<Record<string, unknown>>
  demo?: (opts: { clicks: number; ftds: number }) => Promise<unknown>
  /** publish onto JetStream under a Nats-Msg-Id; resolves with the stream sequence */
  publish?: (subject: string, data: Uint8Array, msgId: string) => Promise<number>
  partitions?: number
  /** let outbound endpoints point at loopback and private addresses */
  allowPrivateEndpoints?: boolean
  /** per-player state (read only here: the migration import's dry run) */
  players?: KV
  /** the keyed hash of a player id the processor records (the audit log keys players by it) */
  pseudonym?: (playerId: string) => string
}

export function parse<T>(schema: z.ZodType<T>, data: unknown): T {
  const r = schema.safeParse(data ?? {})
  if (r.success) return r.data
  const fields: Record<string, string> = {}
  for (const i of r.error.issues) fields[i.path.join('.') || '_'] ??= i.message
  throw new HttpError(
    400,
    'invalid_request',
    Object.entries(fields)
      .map(([f, m]) => `${f}: ${m}`)
      .join('; '),
    fields,
  )
}

const Id = z.coerce.number().int().positive()
const CreateAffiliate = z.object({
  name: z.string().trim().min(1).max(200),
  email: z.string().email().optional(),
  manager: z.string().trim().min(1).max(200).optional(),
  parentId: z.number().int().positive().optional(),
})
const UpdateAffiliate = z
  .object({
    name: z.string().trim().min(1).max(200),
    email: z.string().email().nullable(),
    status: z.enum(['active', 'suspended']),
    manager: z.string().trim().min(1).max(200).nullable(),
    parentId: z.number().int().positive().nullable(),
  })
  .partial()
  .strict()
/** Paging shared by entity lists: newest ids last, `cursor` is the last id of the previous page. */
const Page = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100), cursor: z.coerce.number().int().nonnegative().optional() })
const AffiliateList = Page.extend({
  status: z.enum(['active', 'suspended']).optional(),
  parentId: Id.optional(),
  q: z.string().max(200).optional(),
})
const OfferList = Page.extend({ brandId: z.coerce.number().int().nonnegative().optional(), status: z.enum(['active', 'paused']).optional() })
const StatusList = Page.extend({ status: z.enum(['active', 'paused']).optional() })
const EndpointList = Page.extend({ affiliateId: Id.optional() })
const LinkList = Page.extend({ affiliateId: Id.optional(), offerId: z.coerce.number().int().nonnegative().optional(), status: z.enum(['active', 'paused']).optional() })

/** Which statuses a list shows: an operator what it asks for (all by default), an affiliate only active ones. */
function visibleStatus(p: Principal, asked: 'active' | 'paused' | undefined): (status: string) => boolean {
  if (p.kind !== 'operator') return (s) => s === 'active' && asked !== 'paused'
  return (s) => asked === undefined || s === asked
}

function page<T extends { id: number }>(all: T[], q: { limit: number; cursor?: number }): { items: T[]; next?: string } {
  const sorted = all.filter((x) => q.cursor === undefined || x.id > q.cursor).sort((a, b) => a.id - b.id)
  const items = sorted.slice(0, q.limit)
  return { items, ...(sorted.length > q.limit ? { next: String(items.at(-1)!.id) } : {}) }
}
const CreateToken = z.object({ ttlDays: z.number().int().min(1).max(365).default(30) })
const CreateLink = LinkSettingsSchema.extend({
  affiliateId: Id,
  /** the offer the link promotes; its destination is the link's default */
  offerId: Id.optional(),
  destination: HttpUrl.optional(),
  code: z.string().regex(LINK_CODE, 'must be 3-64 characters of A-Z a-z 0-9 _ -').optional(),
})
  .strict()
  .refine((l) => l.destination !== undefined || l.offerId !== undefined, { message: 'give a destination or an offerId', path: ['destination'] })
/** What an affiliate may ask for in the portal's link builder: a link of its own to an active offer. */
const CreateOwnLink = z
  .object({
    affiliateId: Id.optional(),
    offerId: Id,
    landingPageId: LinkSettingsSchema.shape.landingPageId,
    subs: LinkSettingsSchema.shape.subs,
  })
  .strict()
const UpdateLink = patchOf(LinkSchema.pick({ status: true, landingPageId: true, subs: true, markets: true, geo: true }))
const CreateBrand = BrandInputSchema.strict()
const UpdateBrand = patchOf(BrandInputSchema)
const CreateOffer = OfferInputSchema.strict()
const UpdateOffer = patchOf(OfferInputSchema)
const AuditQuery = z.object({
  entity: z.enum(AUDIT_ENTITIES).optional(),
  key: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  /** the `next` of the previous page */
  before: z.coerce.number().int().positive().optional(),
  /** a player's records (the log keys players by their pseudonym, never the raw id) */
  playerId: z.string().max(128).optional(),
})
const CreateCpa = z.object({
  affiliateId: Id,
  amount: AmountSchema.refine((a) => !a.startsWith('-'), 'must not be negative'),
  currency: CurrencySchema,
  effectiveFrom: z.coerce.date().optional(),
})
const CreateSource = SourceSettingsSchema.extend({ name: z.string().trim().min(1).max(200) }).strict()
const UpdateSource = patchOf(SourceSettingsSchema.omit({ auth: true }))
const SummaryQuery = z.object({
  from: z.coerce.date().optional(),
  to: z.coerce.date().optional(),
  affiliateId: Id.optional(),
})
const EventLogParams = z.object({
  kind: z.enum(['click', 'reassign', ...CONVERSION_KINDS]).optional(),
  status: z.enum(EVENT_STATUSES).optional(),
  reason: z.string().regex(/^[a-z_]{1,64}$/, 'must be a reason code such as unknown_player').optional(),
  affiliateId: Id.optional(),
  from: z.coerce.date().optional(),
  to: z.coerce.date().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z
    .string()
    .max(400)
    .refine((c) => decodeCursor(c) !== undefined, 'is not a cursor this API returned')
    .optional(),
})
const Reassign = z
  .object({
    playerId: z.string().regex(/^[\x21-\x7e]{1,128}$/, 'must be the player id the platform sends, printable ASCII without spaces'),
    affiliateId: z.number().int().nonnegative(),
    note: z.string().trim().min(1, 'say why (it is kept with the change)').max(500),
  })
  .strict()
const CreateEndpoint = z
  .object({
    affiliateId: Id.optional(),
    events: z.array(z.enum(CONVERSION_KINDS)).min(1).max(CONVERSION_KINDS.length),
    url: EndpointSchema.shape.url,
  })
  .strict()
const AttemptsQuery = z.object({ affiliateId: Id.optional(), eventId: z.string().max(300).optional(), endpointId: Id.optional(), limit: z.coerce.number().int().min(1).max(1000).default(100) })
const Refire = z.object({ eventId: z.string().min(1).max(300), endpointId: Id }).strict()
const ImportBody = z
  .object({
    rows: z.array(z.record(z.string(), z.string())).min(1).max(1000),
    /** the number of the first row in the caller's file, for the per-row answers */
    firstRow: z.number().int().positive().default(1),
  })
  .strict()
const ImportQuery = z.object({ dryRun: z.enum(['true', 'false', '1', '0']).default('false') })
const DemoBody = z.object({ clicks: z.number().int().min(0).max(100_000).default(500), ftds: z.number().int().min(0).max(10_000).default(25) })

/** Never the token hash or the HMAC key. */
const sourceView = (s: Source) => ({
  id: s.id,
  name: s.name,
  auth: s.auth,
  ipAllow: s.ipAllow,
  fieldMap: s.fieldMap,
  eventMap: s.eventMap,
  createdAt: new Date(s.createdAt).toISOString(),
  ...(s.updatedAt ? { updatedAt: new Date(s.updatedAt).toISOString() } : {}),
})

/** What each /api route takes and who may call it: the OpenAPI document is built from this. */
export const API_DOCS: ApiDoc[] = [
  { method: 'post', path: '/api/affiliates', summary: 'Create an affiliate', who: 'operator', body: CreateAffiliate },
  { method: 'get', path: '/api/affiliates', summary: 'List affiliates (an affiliate sees itself), filtered and paged', who: 'operator or affiliate', query: AffiliateList },
  { method: 'patch', path: '/api/affiliates/:id', summary: "Change an affiliate's name, email, status, manager or parent", who: 'operator', body: UpdateAffiliate },
  { method: 'get', path: '/api/affiliates/:id', summary: 'One affiliate', who: 'operator or affiliate' },
  { method: 'post', path: '/api/affiliates/:id/tokens', summary: "Issue an affiliate-scoped token", who: 'operator', body: CreateToken },
  { method: 'post', path: '/api/brands', summary: 'Create a brand', who: 'operator', body: CreateBrand },
  { method: 'get', path: '/api/brands', summary: 'List brands (affiliates: the active ones), filtered and paged', who: 'operator or affiliate', query: StatusList },
  { method: 'patch', path: '/api/brands/:id', summary: 'Change a brand', who: 'operator', body: UpdateBrand },
  { method: 'post', path: '/api/links', summary: 'Create a tracking link (an affiliate: its own, to an active offer, in the link builder)', who: 'operator or affiliate', body: CreateLink },
  { method: 'get', path: '/api/links', summary: 'List links, filtered and paged', who: 'operator or affiliate', query: LinkList },
  { method: 'patch', path: '/api/links/:id', summary: "Change a link's status, landing page, default sub-ids, markets or geo rule", who: 'operator', body: UpdateLink },
  { method: 'post', path: '/api/offers', summary: 'Create an offer: brand, destination, landing pages, markets, deep-link hosts', who: 'operator', body: CreateOffer },
  { method: 'get', path: '/api/offers', summary: 'List offers (affiliates: the active ones), filtered and paged', who: 'operator or affiliate', query: OfferList },
  { method: 'patch', path: '/api/offers/:id', summary: 'Change an offer', who: 'operator', body: UpdateOffer },
  { method: 'post', path: '/api/deals/cpa', summary: 'Add a CPA deal version (never retroactive)', who: 'operator', body: CreateCpa },
  { method: 'get', path: '/api/deals', summary: 'Deals with every version', who: 'operator or affiliate' },
  { method: 'post', path: '/api/sources', summary: 'Create a postback source; its secret is shown once', who: 'operator', body: CreateSource },
  { method: 'patch', path: '/api/sources/:id', summary: "Change a source's allow-list and mappings", who: 'operator', body: UpdateSource },
  { method: 'get', path: '/api/sources', summary: 'List postback sources (never their secrets), paged', who: 'operator', query: Page },
  { method: 'get', path: '/api/reports/summary', summary: 'Totals by affiliate and by minute, with asOf', who: 'operator or affiliate', query: SummaryQuery },
  { method: 'get', path: '/api/events', summary: 'The event log, newest first, cursor-paged', who: 'operator or affiliate', query: EventLogParams },
  { method: 'post', path: '/api/players/reassign', summary: 'Reassign a player from now on (0: organic)', who: 'operator', body: Reassign },
  { method: 'post', path: '/api/postbacks/endpoints', summary: 'Register an outbound postback endpoint', who: 'operator or affiliate', body: CreateEndpoint },
  { method: 'get', path: '/api/postbacks/endpoints', summary: 'List outbound postback endpoints, filtered and paged', who: 'operator or affiliate', query: EndpointList },
  { method: 'delete', path: '/api/postbacks/endpoints/:id', summary: 'Remove an endpoint', who: 'operator or affiliate' },
  { method: 'post', path: '/api/postbacks/endpoints/:id/test', summary: 'Test-fire a sample event at an endpoint', who: 'operator or affiliate' },
  { method: 'get', path: '/api/postbacks/attempts', summary: 'Every outbound try: URL, status, error, outcome', who: 'operator or affiliate', query: AttemptsQuery },
  { method: 'post', path: '/api/postbacks/refire', summary: "Fire an attributed event's postback again", who: 'operator or affiliate', body: Refire },
  { method: 'post', path: '/api/import/:kind', summary: 'Migration import: affiliates, links or players, up to 1,000 rows', who: 'operator', body: ImportBody, query: ImportQuery },
  { method: 'get', path: '/api/reports/unattributed', summary: 'Events without an affiliate, and parked events still waiting', who: 'operator', query: EventLogParams.omit({ status: true }) },
  { method: 'get', path: '/api/reports/reconcile', summary: 'Raw tables against rollups', who: 'operator' },
  { method: 'get', path: '/api/audit', summary: 'Entity changes, newest first: who, when, before and after', who: 'operator', query: AuditQuery },
  { method: 'get', path: '/api/audit/verify', summary: 'Walk the hash chain of the audit log', who: 'operator' },
  { method: 'get', path: '/api/status', summary: 'Processor progress and lag, publisher and NATS stats', who: 'operator' },
  { method: 'post', path: '/api/demo/traffic', summary: 'A burst of demo traffic (with --demo)', who: 'operator', body: DemoBody },
  { method: 'get', path: '/api/whoami', summary: 'Who the credential is', who: 'any principal' },
  { method: 'get', path: '/api/openapi.json', summary: 'This document', who: 'any principal' },
]

export function apiRoutes(app: FastifyInstance, d: ApiDeps) {
  const who = (req: FastifyRequest): Principal => d.auth.fromRequest(req)
  const operator = (req: FastifyRequest) => requireOperator(who(req))
  const actor = (p: Principal): Actor => (p.kind === 'operator' ? 'operator' : `affiliate:${p.affiliateId}`)
  const noSuch = (field: string, what: string) => new HttpError(400, 'invalid_request', `no ${what}`, { [field]: 'does not exist' })
  /** The offer a link is for, and that its landing page is one of the offer's. */
  const offerFor = async (offerId: number | undefined, landingPageId: string | undefined | null): Promise<Offer | undefined> => {
    const offer = offerId !== undefined && offerId > 0 ? await d.store.getOffer(offerId) : undefined
    if (offerId !== undefined && offerId > 0 && !offer) throw noSuch('offerId', `offer ${offerId}`)
    if (landingPageId != null && !offer?.landingPages.some((p) => p.id === landingPageId))
      throw new HttpError(400, 'invalid_request', `the offer has no landing page '${landingPageId}'`, { landingPageId: 'is not one of the offer’s landing pages' })
    return offer
  }
  // Player ids never enter the append-only log in the clear (DOMAIN.md: pseudonymised).
  const playerAuditKey = (playerId: string) => {
    if (!d.pseudonym) throw new HttpError(503, 'unavailable', 'this process has no pseudonym key')
    return d.pseudonym(playerId)
  }
  const checkBrand = async (brandId: number | undefined) => {
    if (brandId !== undefined && brandId > 0 && !(await d.store.getBrand(brandId))) throw noSuch('brandId', `brand ${brandId}`)
  }

  app.post('/api/brands', async (req, reply) => {
    operator(req)
    return reply.code(201).send(await d.store.createBrand(parse(CreateBrand, req.body), Date.now(), 'operator'))
  })

  app.get('/api/brands', async (req) => {
    const q = parse(StatusList, req.query)
    const shown = visibleStatus(who(req), q.status)
    return page((await d.store.listBrands()).filter((b) => shown(b.status)), q)
  })

  app.patch<{ Params: { id: string } }>('/api/brands/:id', async (req) => {
    operator(req)
    return d.store.updateBrand(parse(Id, req.params.id), parse(UpdateBrand, req.body), Date.now(), 'operator')
  })

  app.post('/api/affiliates', async (req, reply) => {
    operator(req)
    const body = parse(CreateAffiliate, req.body)
    if (body.parentId !== undefined && !(await d.store.getAffiliate(body.parentId))) throw noSuch('parentId', `affiliate ${body.parentId}`)
    return reply.code(201).send(await d.store.createAffiliate(body, Date.now(), 'operator'))
  })

  app.patch<{ Params: { id: string } }>('/api/affiliates/:id', async (req) => {
    operator(req)
    return d.store.updateAffiliate(parse(Id, req.params.id), parse(UpdateAffiliate, req.body), Date.now(), 'operator')
  })

  app.get('/api/affiliates', async (req) => {
    const p = who(req)
    const q = parse(AffiliateList, req.query)
    const needle = q.q?.toLowerCase()
    const all = (await d.store.listAffiliates()).filter(
      (a) =>
        (p.kind === 'operator' || a.id === p.affiliateId) &&
        (q.status === undefined || a.status === q.status) &&
        (q.parentId === undefined || a.parentId === q.parentId) &&
        (needle === undefined || a.name.toLowerCase().includes(needle) || (a.email ?? '').toLowerCase().includes(needle)),
    )
    return page(all, q)
  })

  app.get<{ Params: { id: string } }>('/api/affiliates/:id', async (req) => {
    const id = scopeAffiliate(who(req), parse(Id, req.params.id))!
    const a = await d.store.getAffiliate(id)
    if (!a) throw new HttpError(404, 'not_found', `no affiliate ${id}`)
    return a
  })

  app.post<{ Params: { id: string } }>('/api/affiliates/:id/tokens', async (req, reply) => {
    operator(req)
    const id = parse(Id, req.params.id)
    const { ttlDays } = parse(CreateToken, req.body)
    if (!(await d.store.getAffiliate(id))) throw new HttpError(404, 'not_found', `no affiliate ${id}`)
    const now = Date.now()
    const expiresAt = now + ttlDays * 86_400_000
    const token = d.auth.issueAffiliateToken(id, expiresAt)
    // Who gave portal access and until when (never the token itself).
    await d.store.audit.append({ at: now, by: 'operator', entity: 'affiliate', key: String(id), action: 'update', after: { portalTokenIssued: { expiresAt: new Date(expiresAt).toISOString() } } })
    return reply.code(201).send({ affiliateId: id, token, expiresAt: new Date(expiresAt).toISOString() })
  })

  app.post('/api/links', async (req, reply) => {
    const p = who(req)
    if (p.kind !== 'operator') {
      // The portal's link builder: an affiliate's own link to an active offer, nothing more.
      const body = parse(CreateOwnLink, req.body)
      const affiliateId = scopeAffiliate(p, body.affiliateId)!
      const offer = await offerFor(body.offerId, body.landingPageId)
      if (!offer || offer.status !== 'active') throw noSuch('offerId', `active offer ${body.offerId}`)
      const link = await d.store.createLink({ ...body, affiliateId, offerId: offer.id, destination: offer.destination }, Date.now(), actor(p))
      return reply.code(201).send(link)
    }
    const body = parse(CreateLink, req.body)
    if (!(await d.store.getAffiliate(body.affiliateId))) throw noSuch('affiliateId', `affiliate ${body.affiliateId}`)
    const offer = await offerFor(body.offerId, body.landingPageId)
    return reply.code(201).send(await d.store.createLink({ ...body, destination: body.destination ?? offer!.destination }, Date.now(), 'operator'))
  })

  app.patch<{ Params: { id: string } }>('/api/links/:id', async (req) => {
    operator(req)
    const id = parse(Id, req.params.id)
    const body = parse(UpdateLink, req.body)
    const link = await d.store.getLinkById(id)
    if (!link) throw new HttpError(404, 'not_found', `no link ${id}`)
    if (body.landingPageId != null) await offerFor(link.offerId, body.landingPageId)
    return d.store.updateLink(link, body, Date.now(), 'operator')
  })

  app.post('/api/offers', async (req, reply) => {
    operator(req)
    const body = parse(CreateOffer, req.body)
    await checkBrand(body.brandId)
    return reply.code(201).send(await d.store.createOffer(body, Date.now(), 'operator'))
  })

  // Affiliates see the active offers: what the portal's link builder offers them.
  app.get('/api/offers', async (req) => {
    const q = parse(OfferList, req.query)
    const shown = visibleStatus(who(req), q.status)
    return page((await d.store.listOffers()).filter((o) => shown(o.status) && (q.brandId === undefined || o.brandId === q.brandId)), q)
  })

  app.patch<{ Params: { id: string } }>('/api/offers/:id', async (req) => {
    operator(req)
    const body = parse(UpdateOffer, req.body)
    await checkBrand(body.brandId ?? undefined)
    return d.store.updateOffer(parse(Id, req.params.id), body, Date.now(), 'operator')
  })

  app.get('/api/links', async (req) => {
    const p = who(req)
    const q = parse(LinkList, req.query)
    const affiliateId = scopeAffiliate(p, q.affiliateId)
    const all = (await d.store.listLinks()).filter(
      (l) => (affiliateId === undefined || l.affiliateId === affiliateId) && (q.offerId === undefined || l.offerId === q.offerId) && (q.status === undefined || l.status === q.status),
    )
    return page(all, q)
  })

  app.post('/api/deals/cpa', async (req, reply) => {
    operator(req)
    const body = parse(CreateCpa, req.body)
    if (!(await d.store.getAffiliate(body.affiliateId))) throw noSuch('affiliateId', `affiliate ${body.affiliateId}`)
    const now = Date.now()
    const effectiveFrom = body.effectiveFrom?.getTime() ?? now
    // A version takes effect from its date, never retroactively: events already processed
    // must keep the terms they were paid under (and a replay must pick the same).
    if (effectiveFrom < now - 1000)
      throw new HttpError(400, 'invalid_request', 'effectiveFrom is in the past: deal versions never apply retroactively', {
        effectiveFrom: 'must not be in the past',
      })
    return reply.code(201).send(await d.store.addCpaVersion(body.affiliateId, { amount: body.amount, currency: body.currency, effectiveFrom }, now, 'operator'))
  })

  app.get('/api/deals', async (req) => {
    const p = who(req)
    const all = await d.store.listDeals()
    return { items: p.kind === 'operator' ? all : all.filter((x) => x.affiliateId === p.affiliateId) }
  })

  app.post('/api/sources', async (req, reply) => {
    operator(req)
    const body = parse(CreateSource, req.body)
    const { source, secret } = await d.store.createSource(body, Date.now(), 'operator')
    // The secret is shown once: a token is stored as its hash; an HMAC key never leaves again.
    return reply.code(201).send({ ...sourceView(source), ...(source.auth === 'token' ? { token: secret } : { secret }) })
  })

  app.patch<{ Params: { id: string } }>('/api/sources/:id', async (req) => {
    operator(req)
    const id = parse(Id, req.params.id)
    const body = parse(UpdateSource, req.body)
    return sourceView(await d.store.updateSource(id, body, Date.now(), 'operator'))
  })

  app.get('/api/sources', async (req) => {
    operator(req)
    const r = page(await d.store.listSources(), parse(Page, req.query))
    return { ...r, items: r.items.map(sourceView) }
  })

  app.get('/api/reports/summary', async (req) => {
    const p = who(req)
    const q = parse(SummaryQuery, req.query)
    const to = q.to ?? new Date(Date.now() + 60_000)
    const from = q.from ?? new Date(to.getTime() - 61 * 60_000)
    if (from >= to) throw new HttpError(400, 'invalid_request', 'from must be before to', { from: 'must be before to' })
    return summary(d.ch, { from, to, affiliateId: scopeAffiliate(p, q.affiliateId) })
  })

  app.get('/api/events', async (req) => {
    const p = who(req)
    const q = parse(EventLogParams, req.query)
    return eventLog(d.ch, { ...q, affiliateId: scopeAffiliate(p, q.affiliateId), full: p.kind === 'operator' })
  })

  // Reassign a player for life from now on (0: organic). Applied by the processor in order
  // with the player's events; the events log keeps who, when, from and to.
  app.post('/api/players/reassign', async (req, reply) => {
    operator(req)
    const body = parse(Reassign, req.body)
    if (body.affiliateId > 0 && !(await d.store.getAffiliate(body.affiliateId))) throw new HttpError(404, 'not_found', `no affiliate ${body.affiliateId}`)
    if (!d.publish || !d.partitions) throw new HttpError(503, 'unavailable', 'this process cannot reach the event stream')
    const auditKey = playerAuditKey(body.playerId)
    const e: ReassignEvent = { kind: 'reassign', id: `ra:${randomUUID()}`, ts: Date.now(), playerId: body.playerId, affiliateId: body.affiliateId, by: 'operator', note: body.note }
    // On the player's partition, in order with the player's events.
    const seq = await d.publish(eventSubject(partitionOf(`p:${e.playerId}`, d.partitions), e.kind), encodeEvents([e]), e.id)
    // The processor applies it in order; the audit log keeps the request (the events log, the effect).
    await d.store.audit.append({ at: e.ts, by: 'operator', entity: 'player', key: auditKey, action: 'update', after: { affiliateId: body.affiliateId, event: e.id }, note: body.note })
    return reply.code(202).send({ status: 'accepted', id: e.id, seq })
  })

  // Outbound postbacks: an affiliate manages its own endpoints; an operator any affiliate's.
  app.post('/api/postbacks/endpoints', async (req, reply) => {
    const p = who(req)
    const body = parse(CreateEndpoint, req.body)
    const affiliateId = scopeAffiliate(p, body.affiliateId)
    if (affiliateId === undefined) throw new HttpError(400, 'invalid_request', 'affiliateId is required', { affiliateId: 'is required' })
    if (!(await d.store.getAffiliate(affiliateId))) throw new HttpError(404, 'not_found', `no affiliate ${affiliateId}`)
    if (!d.allowPrivateEndpoints && isPrivateHost(new URL(body.url).hostname))
      throw new HttpError(400, 'invalid_request', 'the URL points at a loopback or private address', { url: 'must be a public address' })
    return reply.code(201).send(await d.store.createEndpoint({ affiliateId, events: body.events, url: body.url }, Date.now(), actor(p)))
  })

  app.get('/api/postbacks/endpoints', async (req) => {
    const p = who(req)
    const q = parse(EndpointList, req.query)
    const affiliateId = scopeAffiliate(p, q.affiliateId)
    return page((await d.store.listEndpoints()).filter((e) => affiliateId === undefined || e.affiliateId === affiliateId), q)
  })

  /** The endpoint, if the caller may act on it (an affiliate: only its own; others look absent). */
  const ownEndpoint = async (req: FastifyRequest, id: number) => {
    const p = who(req)
    const ep = await d.store.getEndpoint(id)
    if (!ep || (p.kind !== 'operator' && ep.affiliateId !== p.affiliateId)) throw new HttpError(404, 'not_found', 'no such endpoint')
    return ep
  }
  const queue = async (delivery: Delivery) => {
    if (!d.publish) throw new HttpError(503, 'unavailable', 'this process cannot reach the event stream')
    await d.publish(deliverySubject(delivery.endpointId), new TextEncoder().encode(JSON.stringify(delivery)), delivery.id)
  }

  app.delete<{ Params: { id: string } }>('/api/postbacks/endpoints/:id', async (req, reply) => {
    const ep = await ownEndpoint(req, parse(Id, req.params.id))
    await d.store.deleteEndpoint(ep.id, Date.now(), actor(who(req)))
    return reply.code(204).send()
  })

  app.get('/api/postbacks/attempts', async (req) => {
    const p = who(req)
    const q = parse(AttemptsQuery, req.query)
    return { items: await attempts(d.ch, { ...q, affiliateId: scopeAffiliate(p, q.affiliateId) }) }
  })

  // Test-fire: a sample event of the endpoint's first kind through the same queue, retries
  // and log as a real one, so an affiliate can check its tracker from the portal.
  app.post<{ Params: { id: string } }>('/api/postbacks/endpoints/:id/test', async (req, reply) => {
    const ep = await ownEndpoint(req, parse(Id, req.params.id))
    const id = randomUUID()
    const kind = ep.events[0]!
    const money = kind !== 'registration' && kind !== 'challenge_funded' && kind !== 'trade' && kind !== 'activity'
    const n = { eventId: `test:${id}`, kind, ts: Date.now(), affiliateId: ep.affiliateId, offerId: 0, clickId: 'TEST_CLICK_ID', player: 'test-player', amount: money ? '10.00' : '', currency: money ? 'EUR' : '' }
    const delivery = deliveryFor(`dl:test:${id}:${ep.id}`, n, ep)
    await queue(delivery)
    return reply.code(202).send({ status: 'queued', deliveryId: delivery.id, eventId: n.eventId, url: delivery.url })
  })

  // Fire an event's postback again (after the endpoint was fixed, say): a new delivery with
  // its own id, retried and logged like the first.
  app.post('/api/postbacks/refire', async (req, reply) => {
    const body = parse(Refire, req.body)
    const ep = await ownEndpoint(req, body.endpointId)
    const n = await attributedEvent(d.ch, body.eventId, ep.affiliateId)
    if (!n) throw new HttpError(404, 'not_found', `no event ${body.eventId} attributed to affiliate ${ep.affiliateId}`)
    const subs = n.clickId && usesSubs(ep.url) ? (await clickSubs(d.ch, [n])).get(n.clickId) : undefined
    const delivery = deliveryFor(`dl:${n.eventId}:${ep.id}:refire:${randomUUID()}`, n, ep, subs)
    await queue(delivery)
    return reply.code(202).send({ status: 'queued', deliveryId: delivery.id })
  })

  app.post<{ Params: { kind: string } }>('/api/import/:kind', async (req) => {
    operator(req)
    const kind = parse(z.enum(IMPORT_KINDS, { message: `must be one of ${IMPORT_KINDS.join(', ')}` }), req.params.kind)
    const body = parse(ImportBody, req.body)
    const dryRun = ['true', '1'].includes(parse(ImportQuery, req.query).dryRun)
    if (!d.publish || !d.partitions || !d.players) throw new HttpError(503, 'unavailable', 'this process cannot reach the event stream')
    const results = await importRows(kind, body.rows, body.firstRow, dryRun, { store: d.store, players: d.players, partitions: d.partitions, publish: d.publish })
    return { kind, dryRun, results }
  })

  app.get('/api/reports/unattributed', async (req) => {
    operator(req)
    const q = parse(EventLogParams.omit({ status: true }), req.query)
    return eventLog(d.ch, { ...q, full: true, unmatched: true })
  })

  app.get('/api/reports/reconcile', async (req) => {
    operator(req)
    return reconcile(d.ch)
  })

  app.get('/api/audit', async (req) => {
    operator(req)
    const { playerId, ...q } = parse(AuditQuery, req.query)
    return d.store.audit.list(playerId === undefined ? q : { ...q, entity: 'player', key: playerAuditKey(playerId) })
  })

  app.get('/api/audit/verify', async (req) => {
    operator(req)
    return d.store.audit.verify()
  })

  app.get('/api/status', async (req) => {
    operator(req)
    return d.status()
  })

  app.post('/api/demo/traffic', async (req, reply) => {
    operator(req)
    if (!d.demo) throw new HttpError(404, 'not_found', 'demo traffic is off (start with --demo)')
    const body = parse(DemoBody, req.body)
    void d.demo(body)
    return reply.code(202).send({ accepted: body })
  })

  app.get('/api/whoami', async (req) => who(req))

  let doc: Record<string, unknown> | undefined
  app.get('/api/openapi.json', async (req) => {
    who(req)
    return (doc ??= openApi(API_DOCS, '0.1.0'))
  })

  app.get('/api/*', async (req) => {
    who(req)
    throw new HttpError(404, 'not_found', `no route ${req.method} ${req.url.split('?')[0]}`)
  })
}
