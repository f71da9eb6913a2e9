/**
 * Settlement (docs/settlement.md): finance closes a period, and reads the statements the close
 * made; an affiliate reads only its own. The close is a command on the event stream: this
 * route checks it and publishes it; the processor applies it at its position among the events,
 * so the statements appear once the processor has reached it (`GET /api/periods` says which).
 */
import { z } from 'zod'
import { queryRows } from '../../clickhouse/client.js'
import { CLOSE_SUBJECT, closeIdOf, CloseCommandSchema, ROUNDINGS, type CloseCommand } from '../../common/close.js'
import { isCurrency } from '../../common/currencies.js'
import { HttpError } from '../../common/errors.js'
import { AmountSchema, canonicalAmount, D, minorUnits } from '../../common/money.js'
import { periodEndOf, periodKindOf } from '../../common/periods.js'
import { scopeAffiliate } from '../auth.js'
import { actor, OPERATOR, OPERATOR_OR_AFFILIATE, ParamId, type ApiPlugin } from '../http.js'
import type { ProgramBook } from '../../processor/domain/commission/affiliate.js'

const Period = z.string().refine((p) => periodKindOf(p) !== undefined, 'must be a month (2026-03) or an ISO week (2026-W10)')

const CloseBody = z
  .object({
    period: Period,
    /** when the close counts as made (default now): a hold ended by then is payable */
    asOf: z.iso.datetime({ offset: true }).optional(),
    rounding: z.enum(ROUNDINGS).default('half_even'),
    /** the smallest payment per currency: a smaller total is carried to the next statement */
    threshold: z
      .record(
        z.string().refine(isCurrency, 'must be an ISO 4217 currency code such as EUR'),
        AmountSchema.refine((a) => !a.startsWith('-'), 'must not be negative'),
      )
      .optional(),
  })
  .strict()

/** A statement's amount: rounded to the currency's minor unit already, shown with it. */
const minor = (amount: string, currency: string) => new D(amount).toFixed(minorUnits(currency))

/** Rows grouped by statement (affiliate and period). */
function byStatement<T extends { affiliate_id: string; period: string }>(rows: T[]): Map<string, T[]> {
  const m = new Map<string, T[]>()
  for (const r of rows) {
    const k = `${r.affiliate_id}|${r.period}`
    const list = m.get(k)
    if (list) list.push(r)
    else m.set(k, [r])
  }
  return m
}

const StatementQuery = z.object({ period: Period.optional(), affiliateId: ParamId.optional() }).strict()

/** The program's closes as the affiliate stage has applied them. */
export async function closedSoFar(books: { get(k: string): Promise<{ operation: string; string(): string } | null> } | undefined): Promise<ProgramBook['closed']> {
  const e = await books?.get('program')
  return e && e.operation === 'PUT' ? (JSON.parse(e.string()) as ProgramBook).closed : {}
}

export const settlementRoutes: ApiPlugin = (app, d) => {
  app.post(
    '/api/periods/close',
    {
      config: { who: OPERATOR },
      schema: {
        summary: 'Close a settlement period into statements (a month, or an ISO week for weekly deals)',
        description:
          "The close enters the event stream and is applied at its position: events before it are the period's, a later event of the period is booked in the open one. Answers 202 once the stream has it; the statements appear when the processor reaches it.",
        body: CloseBody,
      },
    },
    async (req, reply) => {
      if (!d.publish) throw new HttpError(503, 'unavailable', 'the event stream is not connected')
      const b = req.body
      const now = Date.now()
      const asOf = b.asOf ? Date.parse(b.asOf) : now
      const end = periodEndOf(b.period)
      if (asOf < end) throw new HttpError(400, 'invalid_request', `asOf: ${b.period} ends ${new Date(end).toISOString()}: a period is closed after it ends`, { asOf: 'before the period ends' })
      if (asOf > now + 60_000) throw new HttpError(400, 'invalid_request', 'asOf: must not be in the future', { asOf: 'in the future' })
      const kind = periodKindOf(b.period)!
      const last = (await closedSoFar(d.books))[kind]
      if (last && b.period <= last.period)
        throw new HttpError(409, 'conflict', `${b.period} is closed already: the last ${kind} closed is ${last.period}; a late event of a closed period is booked in the open one`)
      const cmd: CloseCommand = CloseCommandSchema.parse({ period: b.period, asOf, rounding: b.rounding, ...(b.threshold ? { threshold: b.threshold } : {}), by: actor(req.principal) })
      const seq = await d.publish(CLOSE_SUBJECT, new TextEncoder().encode(JSON.stringify(cmd)), closeIdOf(b.period))
      req.log.info({ period: b.period, seq }, 'period close accepted')
      return reply.code(202).send({ closeId: closeIdOf(b.period), period: b.period, asOf: new Date(asOf).toISOString(), rounding: b.rounding, seq, status: 'accepted' })
    },
  )

  app.get('/api/periods', { config: { who: OPERATOR }, schema: { summary: 'The periods closed so far, with their statements in sum' } }, async () => {
    const closed = await closedSoFar(d.books)
    const rows = await queryRows<{ period: string; currency: string; statements: string; payable: string; carried_out: string; pending: string; held: string }>(
      d.ch,
      `SELECT t.period AS period, t.currency AS currency, toString(uniqExact(t.affiliate_id)) AS statements, toString(sum(t.payable)) AS payable,
              toString(sum(t.carried_out)) AS carried_out, toString(sum(t.pending)) AS pending, toString(sum(t.held)) AS held
       FROM statement_totals AS t FINAL GROUP BY t.period, t.currency ORDER BY t.period DESC, t.currency`,
    )
    const counts = await queryRows<{ period: string; statements: string; as_of: string }>(
      d.ch,
      `SELECT t.period AS period, toString(count()) AS statements, toString(max(t.as_of)) AS as_of FROM statements AS t FINAL GROUP BY t.period ORDER BY t.period DESC`,
    )
    return {
      lastClosed: Object.fromEntries(Object.entries(closed).map(([k, c]) => [k, { period: c.period, asOf: new Date(c.asOf).toISOString() }])),
      items: counts.map((c) => ({
        period: c.period,
        asOf: `${c.as_of.replace(' ', 'T')}Z`,
        statements: Number(c.statements),
        totals: rows
          .filter((r) => r.period === c.period)
          .map((r) => ({ currency: r.currency, payable: minor(r.payable, r.currency), carriedOut: minor(r.carried_out, r.currency), pending: minor(r.pending, r.currency), held: minor(r.held, r.currency) })),
      })),
    }
  })

  app.get(
    '/api/statements',
    { config: { who: OPERATOR_OR_AFFILIATE }, schema: { summary: "Statements of closed periods, with their lines and totals; an affiliate's own only", querystring: StatementQuery } },
    async (req) => {
      const affiliateId = scopeAffiliate(req.principal, req.query.affiliateId)
      // the table's own columns through its alias `t`: the SELECT's text aliases share their names
      const where = [affiliateId !== undefined ? 't.affiliate_id = {a:UInt32}' : '1', req.query.period ? 't.period = {p:String}' : '1'].join(' AND ')
      const params = { a: affiliateId ?? 0, p: req.query.period ?? '' }
      const heads = await queryRows<{ affiliate_id: string; period: string; close_id: string; as_of: string; rounding: string; seal_no: string; seal_hash: string }>(
        d.ch,
        `SELECT toString(affiliate_id) AS affiliate_id, period, close_id, toString(as_of) AS as_of, rounding, toString(seal_no) AS seal_no, seal_hash
         FROM statements AS t FINAL WHERE ${where} ORDER BY t.period DESC, t.affiliate_id LIMIT 5000`,
        params,
      )
      const lines = await queryRows<{ affiliate_id: string; period: string; kind: string; deal_id: string; deal_version: string; currency: string; lines: string; exact: string; amount: string }>(
        d.ch,
        `SELECT toString(affiliate_id) AS affiliate_id, period, kind, deal_id, toString(deal_version) AS deal_version, currency, toString(lines) AS lines,
                toString(exact) AS exact, toString(amount) AS amount
         FROM statement_lines AS t FINAL WHERE ${where} ORDER BY t.affiliate_id, t.period, t.kind, t.deal_id, t.deal_version, t.currency`,
        params,
      )
      const totals = await queryRows<Record<'affiliate_id' | 'period' | 'currency' | 'carried_in' | 'lines' | 'total' | 'payable' | 'carried_out' | 'pending' | 'held', string>>(
        d.ch,
        `SELECT toString(affiliate_id) AS affiliate_id, period, currency, toString(carried_in) AS carried_in, toString(lines) AS lines, toString(total) AS total,
                toString(payable) AS payable, toString(carried_out) AS carried_out, toString(pending) AS pending, toString(held) AS held
         FROM statement_totals AS t FINAL WHERE ${where} ORDER BY t.affiliate_id, t.period, t.currency`,
        params,
      )
      const linesOf = byStatement(lines)
      const totalsOf = byStatement(totals)
      return {
        items: heads.map((h) => ({
          affiliateId: Number(h.affiliate_id),
          period: h.period,
          closeId: h.close_id,
          asOf: `${h.as_of.replace(' ', 'T')}Z`,
          rounding: h.rounding,
          seal: { no: Number(h.seal_no), hash: h.seal_hash },
          lines: (linesOf.get(`${h.affiliate_id}|${h.period}`) ?? []).map((l) => ({
            kind: l.kind,
            dealId: l.deal_id,
            dealVersion: Number(l.deal_version),
            currency: l.currency,
            lines: Number(l.lines),
            exact: canonicalAmount(l.exact),
            amount: minor(l.amount, l.currency),
          })),
          totals: (totalsOf.get(`${h.affiliate_id}|${h.period}`) ?? []).map((t) => ({
            currency: t.currency,
            carriedIn: minor(t.carried_in, t.currency),
            lines: minor(t.lines, t.currency),
            total: minor(t.total, t.currency),
            payable: minor(t.payable, t.currency),
            carriedOut: minor(t.carried_out, t.currency),
            pending: minor(t.pending, t.currency),
            held: minor(t.held, t.currency),
          })),
        })),
      }
    },
  )
}
