/** Brands and offers: what the operator sells, and what affiliates may link to. */
import { z } from 'zod'
import { BrandInputSchema, OfferInputSchema, patchOf } from '../../common/entities.js'
import { OPERATOR_OR_AFFILIATE, IdParams, noSuch, OPERATOR, Page, page, ParamCount, visibleStatus, type ApiDeps, type ApiPlugin } from '../http.js'

const CreateBrand = BrandInputSchema.strict()
const UpdateBrand = patchOf(BrandInputSchema)
const CreateOffer = OfferInputSchema.strict()
const UpdateOffer = patchOf(OfferInputSchema)
const StatusList = Page.extend({ status: z.enum(['active', 'paused']).optional() })
const OfferList = StatusList.extend({ brandId: ParamCount.optional() })

const checkBrand = async (d: ApiDeps, brandId: number | undefined | null) => {
  if (brandId != null && brandId > 0 && !d.store.brands.get(brandId)) throw noSuch('brandId', `brand ${brandId}`)
}

export const brandRoutes: ApiPlugin = (app, d) => {
  app.post('/api/brands', { config: { who: OPERATOR }, schema: { summary: 'Create a brand', body: CreateBrand } }, async (req, reply) => {
    return reply.code(201).send(await d.store.brands.create(req.body, Date.now(), 'operator'))
  })

  app.get('/api/brands', { config: { who: OPERATOR_OR_AFFILIATE }, schema: { summary: 'List brands (affiliates: the active ones), filtered and paged', querystring: StatusList } }, async (req) => {
    const shown = visibleStatus(req.principal, req.query.status)
    return page(d.store.brands.list().filter((b) => shown(b.status)), req.query)
  })

  app.patch('/api/brands/:id', { config: { who: OPERATOR }, schema: { summary: 'Change a brand', params: IdParams, body: UpdateBrand } }, async (req) => {
    return d.store.brands.update(req.params.id, req.body, Date.now(), 'operator')
  })
}

export const offerRoutes: ApiPlugin = (app, d) => {
  app.post(
    '/api/offers',
    { config: { who: OPERATOR }, schema: { summary: 'Create an offer: brand, destination, landing pages, markets, deep-link hosts', body: CreateOffer } },
    async (req, reply) => {
      await checkBrand(d, req.body.brandId)
      return reply.code(201).send(await d.store.offers.create(req.body, Date.now(), 'operator'))
    },
  )

  // Affiliates see the active offers: what the portal's link builder offers them.
  app.get('/api/offers', { config: { who: OPERATOR_OR_AFFILIATE }, schema: { summary: 'List offers (affiliates: the active ones), filtered and paged', querystring: OfferList } }, async (req) => {
    const q = req.query
    const shown = visibleStatus(req.principal, q.status)
    return page(d.store.offers.list().filter((o) => shown(o.status) && (q.brandId === undefined || o.brandId === q.brandId)), q)
  })

  app.patch('/api/offers/:id', { config: { who: OPERATOR }, schema: { summary: 'Change an offer', params: IdParams, body: UpdateOffer } }, async (req) => {
    await checkBrand(d, req.body.brandId)
    return d.store.offers.update(req.params.id, req.body, Date.now(), 'operator')
  })
}
