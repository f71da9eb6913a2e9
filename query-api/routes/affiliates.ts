/** Affiliates: create, change, list (an affiliate sees itself), and portal tokens. */
import { z } from 'zod'
import { GroupNameSchema } from '../../common/deals.js'
import { PaymentDetailsSchema } from '../../common/payment.js'
import { HttpError } from '../../common/errors.js'
import { scopeAffiliate } from '../auth.js'
import { actor, OPERATOR_OR_AFFILIATE, BodyId, IdParams, noSuch, OPERATOR, Page, page, ParamId, type ApiPlugin } from '../http.js'

const CreateAffiliate = z.object({
  name: z.string().trim().min(1).max(200),
  email: z.string().email().optional(),
  manager: z.string().trim().min(1).max(200).optional(),
  parentId: BodyId.optional(),
  /** its group: the group's deals apply to it */
  group: GroupNameSchema.optional(),
})
const UpdateAffiliate = z
  .object({
    name: z.string().trim().min(1).max(200),
    email: z.string().email().nullable(),
    status: z.enum(['active', 'suspended']),
    manager: z.string().trim().min(1).max(200).nullable(),
    parentId: BodyId.nullable(),
    group: GroupNameSchema.nullable(),
  })
  .partial()
  .strict()
const AffiliateList = Page.extend({
  status: z.enum(['active', 'suspended']).optional(),
  parentId: ParamId.optional(),
  group: GroupNameSchema.optional(),
  q: z.string().max(200).optional(),
})
export const CreateToken = z.object({ ttlDays: z.number().int().min(1).max(365).default(30) })

export const affiliateRoutes: ApiPlugin = (app, d) => {
  app.post('/api/affiliates', { config: { who: OPERATOR }, schema: { summary: 'Create an affiliate', body: CreateAffiliate } }, async (req, reply) => {
    const body = req.body
    if (body.parentId !== undefined && !d.store.affiliates.get(body.parentId)) throw noSuch('parentId', `affiliate ${body.parentId}`)
    return reply.code(201).send(await d.store.affiliates.create(body, Date.now(), 'operator'))
  })

  app.patch(
    '/api/affiliates/:id',
    { config: { who: OPERATOR }, schema: { summary: "Change an affiliate's name, email, status, manager, parent or group (from now on: what happened before keeps the group it had)", params: IdParams, body: UpdateAffiliate } },
    async (req) => {
      const { id } = req.params
      return d.store.affiliates.update(id, req.body, Date.now(), 'operator')
    },
  )

  app.get('/api/affiliates', { config: { who: OPERATOR_OR_AFFILIATE }, schema: { summary: 'List affiliates (an affiliate sees itself), filtered and paged', querystring: AffiliateList } }, async (req) => {
    const p = req.principal
    const q = req.query
    const needle = q.q?.toLowerCase()
    const all = d.store.affiliates.list().filter(
      (a) =>
        (p.kind === 'operator' || a.id === p.affiliateId) &&
        (q.status === undefined || a.status === q.status) &&
        (q.parentId === undefined || a.parentId === q.parentId) &&
        (q.group === undefined || a.group === q.group) &&
        (needle === undefined || a.name.toLowerCase().includes(needle) || (a.email ?? '').toLowerCase().includes(needle)),
    )
    return page(all, q)
  })

  app.get('/api/affiliates/:id', { config: { who: OPERATOR_OR_AFFILIATE }, schema: { summary: 'One affiliate', params: IdParams } }, async (req) => {
    const id = scopeAffiliate(req.principal, req.params.id)!
    const a = d.store.affiliates.get(id)
    if (!a) throw new HttpError(404, 'not_found', `no affiliate ${id}`)
    return a
  })

  // How the affiliate is paid: set by the operator or by the affiliate itself, validated, each
  // change audited and kept (masked) in its payment history, which its portal shows.
  app.put(
    '/api/affiliates/:id/payment',
    { config: { who: OPERATOR_OR_AFFILIATE }, schema: { summary: "Set how an affiliate is paid: bank transfer (IBAN, BIC), e-wallet or crypto; an affiliate sets its own", params: IdParams, body: PaymentDetailsSchema } },
    async (req) => {
      const id = scopeAffiliate(req.principal, req.params.id)!
      if (!d.store.affiliates.get(id)) throw new HttpError(404, 'not_found', `no affiliate ${id}`)
      return d.store.affiliates.setPayment(id, req.body, Date.now(), actor(req.principal))
    },
  )

  app.post(
    '/api/affiliates/:id/tokens',
    { config: { who: OPERATOR }, schema: { summary: 'Issue an affiliate-scoped token', params: IdParams, body: CreateToken } },
    async (req, reply) => {
      const { id } = req.params
      const { ttlDays } = req.body
      if (!d.store.affiliates.get(id)) throw new HttpError(404, 'not_found', `no affiliate ${id}`)
      return reply.code(201).send(await issueToken(d, id, ttlDays, 'operator'))
    },
  )

  // An affiliate renews its own portal access with the token it still holds (the access
  // hook has checked it is valid and its affiliate not suspended).
  app.post('/api/tokens/renew', { config: { who: ['affiliate'] }, schema: { summary: 'Renew the calling affiliate’s portal token', body: CreateToken } }, async (req, reply) => {
    const p = req.principal
    if (p.kind !== 'affiliate') throw new HttpError(403, 'forbidden', 'only for affiliate')
    return reply.code(201).send(await issueToken(d, p.affiliateId, req.body.ttlDays, actor(p), 'renewed by the affiliate'))
  })
}

/** A portal token for an affiliate, recorded in the audit log (who gave access and until when, never the token). */
export async function issueToken(d: Parameters<ApiPlugin>[1], affiliateId: number, ttlDays: number, by: string, note?: string) {
  const now = Date.now()
  const expiresAt = now + ttlDays * 86_400_000
  const token = d.auth.issueAffiliateToken(affiliateId, expiresAt)
  await d.store.audit.append({
    at: now,
    by,
    entity: 'affiliate',
    key: String(affiliateId),
    action: 'update',
    after: { portalTokenIssued: { expiresAt: new Date(expiresAt).toISOString() } },
    ...(note ? { note } : {}),
  })
  return { affiliateId, token, expiresAt: new Date(expiresAt).toISOString() }
}
