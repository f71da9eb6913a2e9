/** Reports and the event log: totals from the rollups, raw events newest first. */
import { z } from 'zod'
import { CONVERSION_KINDS } from '../../common/events.js'
import { HttpError } from '../../common/errors.js'
import { EVENT_STATUSES } from '../../common/vocabulary.js'
import { scopeAffiliate } from '../auth.js'
import { decodeCursor, eventLog } from '../eventlog.js'
import { reconcile, summary } from '../reports.js'
import { OPERATOR_OR_AFFILIATE, ApiDate, EARLIEST, LATEST, Limit, OPERATOR, ParamId, type ApiPlugin } from '../http.js'

const SummaryQuery = z.object({
  from: ApiDate.optional(),
  to: ApiDate.optional(),
  affiliateId: ParamId.optional(),
})
const EventLogParams = z.object({
  kind: z.enum(['click', 'reassign', ...CONVERSION_KINDS]).optional(),
  status: z.enum(EVENT_STATUSES).optional(),
  reason: z.string().regex(/^[a-z_]{1,64}$/, 'must be a reason code such as unknown_player').optional(),
  affiliateId: ParamId.optional(),
  from: ApiDate.optional(),
  to: ApiDate.optional(),
  limit: Limit,
  cursor: z
    .string()
    .max(400)
    .refine((c) => {
      const t = decodeCursor(c)?.tsMs
      return t !== undefined && t >= EARLIEST && t <= LATEST
    }, 'is not a cursor this API returned')
    .optional(),
})
const UnattributedParams = EventLogParams.omit({ status: true })

function ordered(from: Date, to: Date) {
  if (from >= to) throw new HttpError(400, 'invalid_request', 'from must be before to', { from: 'must be before to' })
}

export const reportRoutes: ApiPlugin = (app, d) => {
  app.get('/api/reports/summary', { config: { who: OPERATOR_OR_AFFILIATE }, schema: { summary: 'Totals by affiliate and by minute, with asOf', querystring: SummaryQuery } }, async (req) => {
    const q = req.query
    const to = q.to ?? new Date(Math.min(Date.now() + 60_000, LATEST))
    const from = q.from ?? new Date(Math.max(to.getTime() - 61 * 60_000, EARLIEST))
    ordered(from, to)
    return summary(d.ch, { from, to, affiliateId: scopeAffiliate(req.principal, q.affiliateId) })
  })

  app.get(
    '/api/reports/unattributed',
    { config: { who: OPERATOR }, schema: { summary: 'Events without an affiliate, and parked events still waiting', querystring: UnattributedParams } },
    async (req) => eventLog(d.ch, { ...req.query, full: true, unmatched: true }),
  )

  app.get('/api/reports/reconcile', { config: { who: OPERATOR }, schema: { summary: 'Raw tables against rollups' } }, async () => reconcile(d.ch))
}

export const eventRoutes: ApiPlugin = (app, d) => {
  app.get('/api/events', { config: { who: OPERATOR_OR_AFFILIATE }, schema: { summary: 'The event log, newest first, cursor-paged', querystring: EventLogParams } }, async (req) => {
    const p = req.principal
    const q = req.query
    return eventLog(d.ch, { ...q, affiliateId: scopeAffiliate(p, q.affiliateId), full: p.kind === 'operator' })
  })
}
