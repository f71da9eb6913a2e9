/** Tracking links: the operator's, and an affiliate's own from the portal's link builder. */
import { z } from 'zod'
import { HttpUrl, LINK_CODE, LinkSchema, LinkSettingsSchema, patchOf, type Offer } from '../../common/entities.js'
import { HttpError } from '../../common/errors.js'
import { scopeAffiliate } from '../auth.js'
import { actor, OPERATOR_OR_AFFILIATE, BodyId, IdParams, noSuch, OPERATOR, Page, page, ParamCount, ParamId, parse, type ApiDeps, type ApiPlugin } from '../http.js'

const CreateLink = LinkSettingsSchema.extend({
  affiliateId: BodyId,
  /** the offer the link promotes; its destination is the link's default */
  offerId: BodyId.optional(),
  destination: HttpUrl.optional(),
  code: z.string().regex(LINK_CODE, 'must be 3-64 characters of A-Z a-z 0-9 _ -').optional(),
})
  .strict()
  .refine((l) => l.destination !== undefined || l.offerId !== undefined, { message: 'give a destination or an offerId', path: ['destination'] })
/** What an affiliate may ask for in the portal's link builder: a link of its own to an active offer. */
const CreateOwnLink = z
  .object({
    affiliateId: BodyId.optional(),
    offerId: BodyId,
    landingPageId: LinkSettingsSchema.shape.landingPageId,
    subs: LinkSettingsSchema.shape.subs,
  })
  .strict()
/** A link's destination may change (an http(s) URL, macros as at creation); clicks follow within moments. */
const UpdateLink = patchOf(LinkSchema.pick({ status: true, landingPageId: true, subs: true, markets: true, geo: true }).extend({ destination: HttpUrl }))
const LinkList = Page.extend({ affiliateId: ParamId.optional(), offerId: ParamCount.optional(), status: z.enum(['active', 'paused']).optional() })

/** The offer a link is for, and that its landing page is one of the offer's. */
async function offerFor(d: ApiDeps, offerId: number | undefined, landingPageId: string | undefined | null): Promise<Offer | undefined> {
  const offer = offerId !== undefined && offerId > 0 ? d.store.offers.get(offerId) : undefined
  if (offerId !== undefined && offerId > 0 && !offer) throw noSuch('offerId', `offer ${offerId}`)
  if (landingPageId != null && !offer?.landingPages.some((p) => p.id === landingPageId))
    throw new HttpError(400, 'invalid_request', `the offer has no landing page '${landingPageId}'`, { landingPageId: 'is not one of the offer’s landing pages' })
  return offer
}

export const linkRoutes: ApiPlugin = (app, d) => {
  app.post(
    '/api/links',
    {
      config: { who: OPERATOR_OR_AFFILIATE },
      // The body an operator sends differs from the link builder's: the handler picks the
      // schema by who asks; the route names both for the document.
      attachValidation: true,
      schema: { summary: 'Create a tracking link (an affiliate: its own, to an active offer, in the link builder)', body: z.union([CreateLink, CreateOwnLink]) },
    },
    async (req, reply) => {
      const p = req.principal
      if (p.kind !== 'operator') {
        const body = parse(CreateOwnLink, req.body)
        const affiliateId = scopeAffiliate(p, body.affiliateId)!
        const offer = await offerFor(d, body.offerId, body.landingPageId)
        if (!offer || offer.status !== 'active') throw noSuch('offerId', `active offer ${body.offerId}`)
        return reply.code(201).send(await d.store.links.create({ ...body, affiliateId, offerId: offer.id, destination: offer.destination }, Date.now(), actor(p)))
      }
      const body = parse(CreateLink, req.body)
      if (!d.store.affiliates.get(body.affiliateId)) throw noSuch('affiliateId', `affiliate ${body.affiliateId}`)
      const offer = await offerFor(d, body.offerId, body.landingPageId)
      return reply.code(201).send(await d.store.links.create({ ...body, destination: body.destination ?? offer!.destination }, Date.now(), 'operator'))
    },
  )

  app.patch(
    '/api/links/:id',
    { config: { who: OPERATOR }, schema: { summary: "Change a link's destination, status, landing page, default sub-ids, markets or geo rule", params: IdParams, body: UpdateLink } },
    async (req) => {
      const { id } = req.params
      const link = d.store.links.get(id)
      if (!link) throw new HttpError(404, 'not_found', `no link ${id}`)
      if (req.body.landingPageId != null) await offerFor(d, link.offerId, req.body.landingPageId)
      return d.store.links.update(link, req.body, Date.now(), 'operator')
    },
  )

  app.get('/api/links', { config: { who: OPERATOR_OR_AFFILIATE }, schema: { summary: 'List links, filtered and paged', querystring: LinkList } }, async (req) => {
    const q = req.query
    const affiliateId = scopeAffiliate(req.principal, q.affiliateId)
    const all = d.store.links.list().filter(
      (l) => (affiliateId === undefined || l.affiliateId === affiliateId) && (q.offerId === undefined || l.offerId === q.offerId) && (q.status === undefined || l.status === q.status),
    )
    return page(all, q)
  })
}
