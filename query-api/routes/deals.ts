/**
 * Deals: composed deals (any mix of the models in docs/commission.md) and flat CPA deals,
 * each a list of write-once versions that apply from their effective date, never before it.
 * An affiliate sees its own deals with every version.
 */
import { z } from 'zod'
import { dealIsFor, DealTermsSchema, GroupNameSchema } from '../../common/deals.js'
import { groupHistoryOf } from '../../common/entities.js'
import { scopeAffiliate } from '../auth.js'
import { CONVERSION_KINDS } from '../../common/vocabulary.js'
import { queryRows } from '../../clickhouse/client.js'
import { isCurrency } from '../../common/currencies.js'
import { HttpError } from '../../common/errors.js'
import { AmountSchema, canonicalAmount, CurrencySchema } from '../../common/money.js'
import { OPERATOR_OR_AFFILIATE, BodyId, noSuch, OPERATOR, ParamId, type ApiPlugin } from '../http.js'
import { periodEndOf } from '../../common/periods.js'
import { closedSoFar } from './settlement.js'

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
    /** for one affiliate… */
    affiliateId: BodyId.optional(),
    /** …or for every affiliate in a group (an affiliate's own deal comes first) */
    group: GroupNameSchema.optional(),
    brandId: BodyId.optional(),
    country: z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166 country code such as DE').optional(),
    effectiveFrom: z.coerce.date().optional(),
    terms: Terms,
  })
  .strict()
  .superRefine((b, ctx) => {
    if (b.affiliateId === undefined && b.group === undefined) ctx.addIssue({ code: 'custom', path: ['affiliateId'], message: 'say who the deal is for: an affiliateId or a group' })
    if (b.affiliateId !== undefined && b.group !== undefined) ctx.addIssue({ code: 'custom', path: ['group'], message: 'a deal is for one affiliate or one group, not both' })
  })

const DealList = z.object({ affiliateId: ParamId.optional() }).strict()

const Simulate = z
  .object({
    affiliateId: BodyId,
    terms: Terms,
    /** the events that happened in [from, to): ISO dates or times */
    from: z.iso.datetime({ offset: true }).or(z.iso.date()),
    to: z.iso.datetime({ offset: true }).or(z.iso.date()),
  })
  .strict()
  .refine((b) => Date.parse(b.from) < Date.parse(b.to), { path: ['to'], message: 'must be after from' })

/** The most events one what-if replays. */
const MAX_SIMULATED = 50_000

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
    if (body.affiliateId !== undefined && !d.store.affiliates.get(body.affiliateId)) throw noSuch('affiliateId', `affiliate ${body.affiliateId}`)
    if (body.brandId !== undefined && !d.store.brands.get(body.brandId)) throw noSuch('brandId', `brand ${body.brandId}`)
    const now = Date.now()
    // A new deal may start in the past (agreed from the 1st of the month, or for history reported
    // late or imported): what was processed before it existed keeps what it was paid, and events
    // received from now on that happened since its start get it. Never in a closed period.
    const at = asked?.getTime() ?? now
    const closed = (await closedSoFar(d.books))[body.terms.period]
    if (closed && at < periodEndOf(closed.period))
      throw new HttpError(400, 'invalid_request', `effectiveFrom is in a closed period: ${closed.period} is closed, so a new deal starts ${new Date(periodEndOf(closed.period)).toISOString()} or later`, {
        effectiveFrom: 'in a closed period',
      })
    return reply.code(201).send(await d.store.deals.create({ ...body, effectiveFrom: at }, now, 'operator'))
  })

  // What would the affiliate have earned under these terms? Its real events of the range (the
  // attributed ones, as the processor recorded them) through the same rules, on the processor tier.
  app.post(
    '/api/deals/simulate',
    { config: { who: OPERATOR }, schema: { summary: "What-if: an affiliate's real events of a range under proposed terms, beside what its ledger holds", body: Simulate } },
    async (req) => {
      const { affiliateId, terms, from, to } = req.body
      if (!d.store.affiliates.get(affiliateId)) throw noSuch('affiliateId', `affiliate ${affiliateId}`)
      if (!d.simulate) throw new HttpError(503, 'unavailable', 'no processor tier answers simulations here')
      const start = new Date(from.length === 10 ? `${from}T00:00:00Z` : from)
      const end = new Date(to.length === 10 ? `${to}T00:00:00Z` : to)
      const rows = await queryRows<{ k: string; id: string; at: string; player: string; amt: string; cur: string; det: Record<string, string> }>(
        d.ch,
        `SELECT kind AS k, event_id AS id, toString(occurred_at) AS at, player_ref AS player, toString(amount) AS amt, currency AS cur, details AS det
         FROM events
         WHERE affiliate_id = {a:UInt32} AND status = 'attributed' AND kind IN {kinds:Array(String)}
           AND occurred_at >= {from:DateTime64(3)} AND occurred_at < {to:DateTime64(3)}
         ORDER BY stream_seq, stream_idx
         LIMIT ${MAX_SIMULATED + 1}`,
        { a: affiliateId, kinds: [...CONVERSION_KINDS], from: start.getTime() / 1000, to: end.getTime() / 1000 },
      )
      if (rows.length > MAX_SIMULATED) throw new HttpError(400, 'invalid_request', `more than ${MAX_SIMULATED} events in the range: ask for a shorter one`, { to: 'the range is too long' })
      const scenario = {
        name: `what-if: affiliate ${affiliateId}, ${from} to ${to}`,
        program: { currency: terms.currency },
        fx: d.store.fx.list().map(({ date, from: f, to: t, rate }) => ({ date, from: f, to: t, rate })),
        affiliates: [{ id: affiliateId }],
        deals: [{ id: 'proposed', affiliateId, versions: [{ effectiveFrom: start.toISOString(), terms }] }],
        events: rows.map((r) => ({
          at: `${r.at.replace(' ', 'T')}Z`,
          kind: r.k,
          player: r.player,
          affiliate: affiliateId,
          id: r.id,
          ...(r.cur ? { amount: canonicalAmount(r.amt), currency: r.cur } : {}),
          ...(Object.keys(r.det ?? {}).length ? { details: r.det } : {}),
        })),
      }
      const answer = (await d.simulate(scenario)) as { ok: boolean; result?: { totals: Record<string, unknown>; lines: unknown[] }; issues?: { path: string; message: string }[] }
      if (!answer.ok) throw new HttpError(400, 'invalid_request', `the simulation refused the terms or events: ${answer.issues?.map((i) => `${i.path}: ${i.message}`).join('; ')}`)
      const actual = await queryRows<{ period: string; currency: string; amount: string }>(
        d.ch,
        `SELECT period, currency, toString(sum(amount)) AS amount FROM ledger_lines FINAL
         WHERE affiliate_id = {a:UInt32} AND occurred_at >= {from:DateTime64(3)} AND occurred_at < {to:DateTime64(3)}
         GROUP BY period, currency ORDER BY period, currency`,
        { a: affiliateId, from: start.getTime() / 1000, to: end.getTime() / 1000 },
      )
      return {
        affiliateId,
        from: start.toISOString(),
        to: end.toISOString(),
        events: rows.length,
        /** per period: what the proposed terms would have paid (rounded per statement line) */
        proposed: answer.result!.totals[String(affiliateId)] ?? {},
        /** what the affiliate's ledger holds for the same events' periods, per currency */
        actual: actual.map((a) => ({ period: a.period, currency: a.currency, amount: canonicalAmount(a.amount) })),
        lines: answer.result!.lines,
        note: "The affiliate's events before the range are not replayed: a player who registered earlier is seen from its first event in the range.",
      }
    },
  )

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

  app.get(
    '/api/deals',
    {
      config: { who: OPERATOR_OR_AFFILIATE },
      schema: {
        summary: "Deals with every version (a flat CPA deal as a deal paying only its CPA); for an affiliate, its own and those of every group it has been in",
        querystring: DealList,
      },
    },
    async (req) => {
      const all = d.store.deals.deals()
      const affiliateId = scopeAffiliate(req.principal, req.query.affiliateId)
      if (affiliateId === undefined) return { items: all }
      const a = d.store.affiliates.get(affiliateId)
      const groups = new Set(a ? groupHistoryOf(a).map((g) => g.group ?? undefined) : [undefined])
      return { items: all.filter((x) => [...groups].some((g) => dealIsFor(x, affiliateId, g))) }
    },
  )
}
