/** FX rates per day: recorded (write-once) and listed. CSV files go through `npm run import -- fx`. */
import { z } from 'zod'
import { FxRateSchema } from '../../common/fx.js'
import { CurrencySchema } from '../../common/money.js'
import { OPERATOR, OPERATOR_OR_AFFILIATE, type ApiPlugin } from '../http.js'

const Rate = z.object({ date: FxRateSchema.shape.date, from: CurrencySchema, to: CurrencySchema, rate: FxRateSchema.shape.rate }).strict()
const Record_ = z.object({ rates: z.array(Rate).min(1).max(1000) }).strict()
const Query = z.object({ from: CurrencySchema.optional(), to: CurrencySchema.optional() }).strict()

export const fxRoutes: ApiPlugin = (app, d) => {
  app.post(
    '/api/fx',
    { config: { who: OPERATOR }, schema: { summary: 'Record FX rates per day (1 from = rate to); a rate once recorded is never changed', body: Record_ } },
    async (req, reply) => reply.code(201).send(await d.store.fx.record(req.body.rates, Date.now(), 'operator')),
  )
  app.get('/api/fx', { config: { who: OPERATOR_OR_AFFILIATE }, schema: { summary: 'Recorded FX rates, by pair and day', querystring: Query } }, async (req) => ({
    items: d.store.fx.list().filter((r) => (!req.query.from || r.from === req.query.from) && (!req.query.to || r.to === req.query.to)),
  }))
}
