/** Deals: CPA versions, never retroactive. */
import { z } from 'zod'
import { HttpError } from '../../common/errors.js'
import { AmountSchema, CurrencySchema } from '../../common/money.js'
import { OPERATOR_OR_AFFILIATE, BodyId, noSuch, OPERATOR, type ApiPlugin } from '../http.js'

const CreateCpa = z.object({
  affiliateId: BodyId,
  amount: AmountSchema.refine((a) => !a.startsWith('-'), 'must not be negative'),
  currency: CurrencySchema,
  effectiveFrom: z.coerce.date().optional(),
})

export const dealRoutes: ApiPlugin = (app, d) => {
  app.post('/api/deals/cpa', { config: { who: OPERATOR }, schema: { summary: 'Add a CPA deal version (never retroactive)', body: CreateCpa } }, async (req, reply) => {
    const body = req.body
    if (!d.store.affiliates.get(body.affiliateId)) throw noSuch('affiliateId', `affiliate ${body.affiliateId}`)
    const now = Date.now()
    const effectiveFrom = body.effectiveFrom?.getTime() ?? now
    // A version takes effect from its date, never retroactively: events already processed
    // must keep the terms they were paid under (and a replay must pick the same).
    if (effectiveFrom < now - 1000)
      throw new HttpError(400, 'invalid_request', 'effectiveFrom is in the past: deal versions never apply retroactively', {
        effectiveFrom: 'must not be in the past',
      })
    return reply.code(201).send(await d.store.deals.addCpaVersion(body.affiliateId, { amount: body.amount, currency: body.currency, effectiveFrom }, now, 'operator'))
  })

  app.get('/api/deals', { config: { who: OPERATOR_OR_AFFILIATE }, schema: { summary: 'Deals with every version' } }, async (req) => {
    const p = req.principal
    const all = d.store.deals.list()
    return { items: p.kind === 'operator' ? all : all.filter((x) => x.affiliateId === p.affiliateId) }
  })
}
