/**
 * Settlement (docs/settlement.md): finance closes a period, and reads the statements the close
 * made; an affiliate reads only its own. The close is a command on the event stream: this
 * route checks it and publishes it; the processor applies it at its position among the events,
 * so the statements appear once the processor has reached it (`GET /api/periods` says which).
 */
import { z } from 'zod'
import { insertFormatted, queryRows, type ClickHouseClient } from '../../clickhouse/client.js'
import { chTime } from '../../common/chtime.js'
import { LINE_KIND_LABELS, STATEMENT_STATUSES } from '../../common/vocabulary.js'
import {
  ADJUST_SUBJECT,
  AdjustmentCommandSchema,
  CLOSE_SUBJECT,
  closeIdOf,
  CloseCommandSchema,
  PROGRAM_KEY,
  ROUNDINGS,
  type ClosedPeriods,
  type CloseCommand,
} from '../../common/close.js'
import { randomBytes } from 'node:crypto'
import { isCurrency } from '../../common/currencies.js'
import { HttpError } from '../../common/errors.js'
import { AmountSchema, canonicalAmount, roundMinor } from '../../common/money.js'
import { periodEndOf, periodKindOf, PeriodSchema } from '../../common/periods.js'
import { scopeAffiliate } from '../auth.js'
import { classify, groupKey } from '../../common/statement.js'
import { ledgerLines } from './ledger.js'
import { invoiceHtml, printPdf, type InvoiceData } from '../invoice.js'
import { actor, BodyId, OPERATOR, OPERATOR_OR_AFFILIATE, ParamId, type ApiPlugin } from '../http.js'

const Period = PeriodSchema

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
const minor = (amount: string, currency: string) => roundMinor(amount, currency)

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

const Adjust = z
  .object({
    affiliateId: BodyId,
    /** what it adds to the affiliate's balance (negative: takes off) */
    amount: AmountSchema.refine((a) => !/^-?0*(\.0*)?$/.test(a), 'must not be zero'),
    currency: z.string().refine(isCurrency, 'must be an ISO 4217 currency code such as EUR'),
    reason: z.string().trim().min(1, 'say why: the affiliate reads it on the line').max(500),
  })
  .strict()

const StatementQuery = z.object({ period: Period.optional(), affiliateId: ParamId.optional() }).strict()
const StatementLinesQuery = z.object({ period: Period, affiliateId: ParamId.optional() }).strict()
const InvoiceQuery = z.object({ period: Period, affiliateId: ParamId.optional(), format: z.enum(['html', 'pdf']).default('pdf') }).strict()


const Approve = z
  .object({
    period: Period,
    /** the statements to approve (absent: every draft of the period) */
    affiliateIds: z.array(BodyId).min(1).max(10_000).optional(),
  })
  .strict()

const Hold = z
  .object({
    period: Period,
    affiliateId: BodyId,
    note: z.string().trim().min(1, 'say why it is held').max(500),
  })
  .strict()

type Status = (typeof STATEMENT_STATUSES)[number]
type StatusRow = { affiliate_id: string; period: string; status: Status; by: string; at: string; note: string }

/** Each statement's latest status row (none: a draft). */
async function statusesOf(ch: ClickHouseClient, where: string, params: Record<string, unknown>): Promise<Map<string, StatusRow>> {
  const rows = await queryRows<StatusRow>(
    ch,
    `SELECT toString(t.affiliate_id) AS affiliate_id, t.period AS period, argMax(t.status, t.at) AS status, argMax(t.by, t.at) AS by,
            toString(max(t.at)) AS at, argMax(t.note, t.at) AS note
     FROM statement_status AS t FINAL WHERE ${where} GROUP BY t.affiliate_id, t.period`,
    params,
  )
  return new Map(rows.map((r) => [`${r.affiliate_id}|${r.period}`, r]))
}

/** Which statuses a statement may go to from which. */
const MAY: Record<'approved' | 'held', readonly Status[]> = { approved: ['draft', 'held'], held: ['draft', 'approved'] }
// (a paid statement is neither: payout batches move approved statements to paid)

/** The program's closes as the affiliate stage has applied them. */
export async function closedSoFar(books: { get(k: string): Promise<{ operation: string; string(): string } | null> } | undefined): Promise<ClosedPeriods> {
  const e = await books?.get(PROGRAM_KEY)
  return e && e.operation === 'PUT' ? (JSON.parse(e.string()) as { closed: ClosedPeriods }).closed : {}
}

/** A statement's status for a reader: draft unless finance decided otherwise. */
function statusView(r: StatusRow | undefined) {
  return r ? { status: r.status, statusBy: r.by, statusAt: `${r.at.replace(' ', 'T')}Z`, ...(r.note ? { note: r.note } : {}) } : { status: 'draft' as const }
}

/** Statements of closed periods, with their status, lines and totals (one affiliate's, or all; one period, or all). */
async function readStatements(d: Parameters<ApiPlugin>[1], affiliateId: number | undefined, period: string | undefined) {
  // the table's own columns through its alias `t`: the SELECT's text aliases share their names
  const where = [affiliateId !== undefined ? 't.affiliate_id = {a:UInt32}' : '1', period ? 't.period = {p:String}' : '1'].join(' AND ')
  const params = { a: affiliateId ?? 0, p: period ?? '' }
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
  const statuses = await statusesOf(d.ch, where, params)
  return {
    items: heads.map((h) => ({
      affiliateId: Number(h.affiliate_id),
      period: h.period,
      closeId: h.close_id,
      asOf: `${h.as_of.replace(' ', 'T')}Z`,
      rounding: h.rounding,
      seal: { no: Number(h.seal_no), hash: h.seal_hash },
      ...statusView(statuses.get(`${h.affiliate_id}|${h.period}`)),
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
}

/** The ledger lines of one statement, each with what the close did with it (classify, on the chain as the statement sealed it). */
async function statementLedger(d: Parameters<ApiPlugin>[1], affiliateId: number, period: string) {
  const [h] = await queryRows<{ as_of: string; seal_no: string; prev_period: string; prev_as_of: string; prev_no: string }>(
    d.ch,
    `SELECT toString(toUnixTimestamp64Milli(t.as_of)) AS as_of, toString(t.seal_no) AS seal_no, t.prev_period AS prev_period,
            toString(toUnixTimestamp64Milli(t.prev_as_of)) AS prev_as_of, toString(t.prev_no) AS prev_no
     FROM statements AS t FINAL WHERE t.affiliate_id = {a:UInt32} AND t.period = {p:String}`,
    { a: affiliateId, p: period },
  )
  if (!h) throw new HttpError(404, 'not_found', `no statement for ${period}`)
  const chain = (await ledgerLines(d.ch, { affiliateId })).filter((l) => l.no <= Number(h.seal_no))
  const previous = h.prev_period ? { period: h.prev_period, asOf: Number(h.prev_as_of), no: Number(h.prev_no) } : undefined
  return classify(chain, { period, asOf: Number(h.as_of), ...(previous ? { previous } : {}) })
}

/** Whose statement: an affiliate's own; an operator names one. */
function whose(req: { principal: Parameters<typeof scopeAffiliate>[0]; query: { affiliateId?: number } }): number {
  const a = scopeAffiliate(req.principal, req.query.affiliateId)
  if (a === undefined) throw new HttpError(400, 'invalid_request', 'say whose statement: affiliateId', { affiliateId: 'required for an operator' })
  return a
}

export const settlementRoutes: ApiPlugin = (app, d) => {
  /** Move statements of a period to `to`, each only from a status it may come from; audited. */
  async function decide(period: string, affiliateIds: number[] | undefined, to: 'approved' | 'held', by: string, note = '') {
    const made = await queryRows<{ a: string }>(
      d.ch,
      `SELECT toString(t.affiliate_id) AS a FROM statements AS t FINAL WHERE t.period = {p:String} ${affiliateIds ? 'AND t.affiliate_id IN {ids:Array(UInt32)}' : ''} ORDER BY t.affiliate_id`,
      { p: period, ids: affiliateIds ?? [] },
    )
    const have = new Set(made.map((r) => Number(r.a)))
    const missing = (affiliateIds ?? []).filter((a) => !have.has(a))
    const now = await statusesOf(d.ch, 't.period = {p:String}', { p: period })
    const changed: number[] = []
    const skipped: { affiliateId: number; status: string; reason: string }[] = missing.map((a) => ({ affiliateId: a, status: 'none', reason: `no statement for ${period}` }))
    const at = Date.now()
    let rows = ''
    for (const a of have) {
      const cur = now.get(`${a}|${period}`)?.status ?? 'draft'
      if (cur === to) continue
      if (!MAY[to].includes(cur)) {
        skipped.push({ affiliateId: a, status: cur, reason: `a ${cur} statement cannot be ${to}` })
        continue
      }
      // a held statement is approved only by name: approving a period in bulk leaves it held
      if (cur === 'held' && !affiliateIds) {
        skipped.push({ affiliateId: a, status: cur, reason: 'held: approve it by name to release it' })
        continue
      }
      rows += JSON.stringify({ affiliate_id: a, period, status: to, by, at: chTime(at), note }) + '\n'
      changed.push(a)
    }
    await insertFormatted(d.ch, { table: 'statement_status', format: 'JSONEachRow', body: rows, token: `status:${period}:${to}:${at}:${randomBytes(6).toString('hex')}` })
    for (const a of changed) {
      const before = now.get(`${a}|${period}`)?.status ?? 'draft'
      await d.store.audit.append({ entity: 'statement', key: `${a}/${period}`, action: 'update', before: { status: before }, after: { status: to }, by, ...(note ? { note } : {}), at })
    }
    return { changed, skipped }
  }

  app.post(
    '/api/statements/approve',
    { config: { who: OPERATOR }, schema: { summary: 'Approve statements of a closed period for payment: the ones named, or every draft', body: Approve } },
    async (req) => {
      const r = await decide(req.body.period, req.body.affiliateIds, 'approved', actor(req.principal))
      if (req.body.affiliateIds && r.changed.length === 0 && r.skipped.length > 0) throw new HttpError(409, 'conflict', r.skipped.map((s) => `affiliate ${s.affiliateId}: ${s.reason}`).join('; '))
      return { period: req.body.period, approved: r.changed, skipped: r.skipped }
    },
  )

  app.post(
    '/api/statements/hold',
    { config: { who: OPERATOR }, schema: { summary: 'Hold a statement back from payment, saying why', body: Hold } },
    async (req) => {
      const r = await decide(req.body.period, [req.body.affiliateId], 'held', actor(req.principal), req.body.note)
      if (r.changed.length === 0 && r.skipped.length > 0) throw new HttpError(r.skipped[0]!.status === 'none' ? 404 : 409, r.skipped[0]!.status === 'none' ? 'not_found' : 'conflict', r.skipped[0]!.reason)
      return { period: req.body.period, held: r.changed }
    },
  )

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

  app.post(
    '/api/adjustments',
    {
      config: { who: OPERATOR },
      schema: {
        summary: "A manual adjustment of an affiliate's balance, with the reason it reads: a ledger line of the open month, on its next statement",
        description: 'It enters the event stream and is applied in its place among the events (202 with its id and stream position); the line is `adj:<id>`, kind adjustment.',
        body: Adjust,
      },
    },
    async (req, reply) => {
      if (!d.publish) throw new HttpError(503, 'unavailable', 'the event stream is not connected')
      const b = req.body
      if (!d.store.affiliates.get(b.affiliateId)) throw new HttpError(400, 'invalid_request', `affiliateId: no affiliate ${b.affiliateId}`, { affiliateId: `no affiliate ${b.affiliateId}` })
      const at = Date.now()
      const id = `${at.toString(36)}-${randomBytes(5).toString('hex')}`
      const cmd = AdjustmentCommandSchema.parse({ id, affiliateId: b.affiliateId, amount: b.amount, currency: b.currency, reason: b.reason, at, by: actor(req.principal) })
      const seq = await d.publish(ADJUST_SUBJECT, new TextEncoder().encode(JSON.stringify(cmd)), `adj:${id}`)
      await d.store.audit.append({ entity: 'statement', key: `${b.affiliateId}/adjustment`, action: 'create', after: { line: `adj:${id}`, amount: b.amount, currency: b.currency }, by: cmd.by, note: b.reason, at })
      return reply.code(202).send({ id, line: `adj:${id}`, seq, status: 'accepted' })
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
    async (req) => readStatements(d, scopeAffiliate(req.principal, req.query.affiliateId), req.query.period),
  )

  // A statement line's ledger lines: the close's rule run again on the affiliate's chain as the
  // statement sealed it, so each line shows which statement line took it (or that it waits).
  app.get(
    '/api/statements/lines',
    {
      config: { who: OPERATOR_OR_AFFILIATE },
      schema: { summary: "The ledger lines a statement took, each with the statement line it went to, and those it left waiting; an affiliate's own only", querystring: StatementLinesQuery },
    },
    async (req) => {
      const affiliateId = whose(req)
      const items = await statementLedger(d, affiliateId, req.query.period)
      return { affiliateId, period: req.query.period, items: items.map((c) => ({ ...c.line, ...(c.group ? { statementLine: groupKey(c.group) } : { waiting: c.waiting }) })) }
    },
  )

  // The printable self-billing statement: HTML, or PDF printed from it by Chromium.
  app.get(
    '/api/statements/invoice',
    {
      config: { who: OPERATOR_OR_AFFILIATE },
      schema: { summary: "A statement as a printable self-billing invoice (HTML or PDF): its lines, totals, the deal versions and FX rates used, and its seal; an affiliate's own only", querystring: InvoiceQuery },
    },
    async (req, reply) => {
      const affiliateId = whose(req)
      const { period, format } = req.query
      const [st] = (await readStatements(d, affiliateId, period)).items
      if (!st) throw new HttpError(404, 'not_found', `no statement for ${period}`)
      const taken = (await statementLedger(d, affiliateId, period)).filter((c) => c.group)
      const fx = new Map<string, InvoiceData['fx'][number]>()
      for (const { line: l } of taken)
        if (l.originalCurrency !== l.currency && l.originalCurrency !== 'LOT' && l.fxRate !== '1') fx.set(`${l.originalCurrency}|${l.currency}|${l.fxDate}|${l.fxRate}`, { from: l.originalCurrency, to: l.currency, rate: l.fxRate, date: l.fxDate })
      const a = d.store.affiliates.get(affiliateId)
      const html = invoiceHtml({
        programName: d.invoices?.programName ?? 'Affiliate program',
        affiliate: { id: affiliateId, name: a?.name ?? `#${affiliateId}`, ...(a?.email ? { email: a.email } : {}) },
        period,
        asOf: Date.parse(st.asOf),
        status: st.status,
        seal: st.seal,
        lines: st.lines.map((l) => ({
          kind: l.kind,
          label: (LINE_KIND_LABELS as Record<string, string>)[l.kind] ?? l.kind,
          deal: l.dealId ? `${d.store.deals.byId(l.dealId)?.name ?? l.dealId} (v${l.dealVersion})` : '—',
          currency: l.currency,
          lines: l.lines,
          amount: l.amount,
        })),
        totals: st.totals,
        fx: [...fx.values()].sort((x, y) => (x.date < y.date ? -1 : 1)),
      })
      const name = `statement-${affiliateId}-${period}`
      if (format === 'html') return reply.type('text/html; charset=utf-8').header('content-disposition', `inline; filename="${name}.html"`).send(html)
      let pdf: Buffer
      try {
        pdf = await printPdf(html, d.invoices?.chromium ?? '/usr/bin/chromium')
      } catch (err) {
        req.log.error({ err }, 'printing an invoice failed')
        throw new HttpError(503, 'unavailable', `the PDF could not be printed (Chromium, Debian package chromium, at ${d.invoices?.chromium ?? '/usr/bin/chromium'}); the HTML invoice is at format=html`)
      }
      return reply.type('application/pdf').header('content-disposition', `attachment; filename="${name}.pdf"`).send(pdf)
    },
  )
}
