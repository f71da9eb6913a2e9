/**
 * Deals: composed deals (any mix of the models in docs/commission.md) and flat CPA deals,
 * each a list of write-once versions that apply from their effective date, never before it.
 * An affiliate sees its own deals with every version.
 */
import { z } from 'zod'
import { DealTermsSchema } from '../../common/deals.js'
import { isCurrency } from '../../common/currencies.js'
import { HttpError } from '../../common/errors.js'
import { AmountSchema, CurrencySchema } from '../../common/money.js'
import { OPERATOR_OR_AFFILIATE, BodyId, noSuch, OPERATOR, type ApiPlugin } from '../http.js'

const CreateCpa = z.object({
  affiliateId: BodyId,
  amount: AmountSchema.refine((a) => !a.startsWith('-'), 'must not be negative'),
  currency: CurrencySchema,
  effectiveFrom: z.coerce.date().optional(),
})

/** Terms as the API takes them: the deal model, its currency an ISO 4217 code. */
const Terms = DealTermsSchema.superRefine((t, ctx) => {
  if (!isCurrency(t.currency)) ctx.addIssue({ code: 'custom', path: ['currency'], message: `${t.currency} is not an ISO 4217 currency code (such as EUR or USD)` })
})

const CreateDeal = z
  .object({
    name: z.string().trim().min(1).max(200),
    affiliateId: BodyId,
    brandId: BodyId.optional(),
    country: z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166 country code such as DE').optional(),
    effectiveFrom: z.coerce.date().optional(),
    terms: Terms,
  })
  .strict()

const AddVersion = z.object({ effectiveFrom: z.coerce.date().optional(), terms: Terms }).strict()
const DealParams = z.object({ id: z.string().regex(/^d[0-9]{1,10}$/, 'must be a deal id such as d12') })

/** A version takes effect from its date, never retroactively: events already processed keep
 *  the terms they were paid under (and a replay picks the same). */
function effectiveFrom(asked: Date | undefined, now: number): number {
  const at = asked?.getTime() ?? now
  if (at < now - 1000)
    throw new HttpError(400, 'invalid_request', 'effectiveFrom is in the past: deal versions never apply retroactively', { effectiveFrom: 'must not be in the past' })
  return at
}

export const dealRoutes: ApiPlugin = (app, d) => {
  app.post('/api/deals', { config: { who: OPERATOR }, schema: { summary: 'Create a deal: its terms (CPA, CPL, RevShare, IB, prop, sub-affiliate) as its first version', body: CreateDeal } }, async (req, reply) => {
    const { effectiveFrom: asked, ...body } = req.body
    if (!d.store.affiliates.get(body.affiliateId)) throw noSuch('affiliateId', `affiliate ${body.affiliateId}`)
    if (body.brandId !== undefined && !d.store.brands.get(body.brandId)) throw noSuch('brandId', `brand ${body.brandId}`)
    const now = Date.now()
    return reply.code(201).send(await d.store.deals.create({ ...body, effectiveFrom: effectiveFrom(asked, now) }, now, 'operator'))
  })

  app.post(
    '/api/deals/:id/versions',
    { config: { who: OPERATOR }, schema: { summary: 'Add a version to a deal: it applies from its effective date on', params: DealParams, body: AddVersion } },
    async (req, reply) => {
      if (!d.store.deals.byId(req.params.id)) throw new HttpError(404, 'not_found', `no deal ${req.params.id}`)
      const now = Date.now()
      return reply.code(201).send(await d.store.deals.addVersion(req.params.id, { effectiveFrom: effectiveFrom(req.body.effectiveFrom, now), terms: req.body.terms }, now, 'operator'))
    },
  )

  app.post('/api/deals/cpa', { config: { who: OPERATOR }, schema: { summary: 'Add a CPA deal version (never retroactive)', body: CreateCpa } }, async (req, reply) => {
    const body = req.body
    if (!d.store.affiliates.get(body.affiliateId)) throw noSuch('affiliateId', `affiliate ${body.affiliateId}`)
    const now = Date.now()
    return reply.code(201).send(await d.store.deals.addCpaVersion(body.affiliateId, { amount: body.amount, currency: body.currency, effectiveFrom: effectiveFrom(body.effectiveFrom, now) }, now, 'operator'))
  })

  app.get('/api/deals', { config: { who: OPERATOR_OR_AFFILIATE }, schema: { summary: 'Deals with every version (a flat CPA deal as a deal paying only its CPA)' } }, async (req) => {
    const p = req.principal
    const all = d.store.deals.deals()
    return { items: p.kind === 'operator' ? all : all.filter((x) => x.affiliateId === p.affiliateId) }
  })
}
