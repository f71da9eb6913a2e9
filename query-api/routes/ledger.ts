/**
 * The commission ledger: an affiliate's lines in chain order, each with its reason, and a
 * check of the chain. An affiliate sees and checks only its own.
 */
import { z } from 'zod'
import { queryRows, type ClickHouseClient } from '../../clickhouse/client.js'
import { HttpError } from '../../common/errors.js'
import { canonicalAmount } from '../../common/money.js'
import { verifySealed, type ChainedLine, type LineKind, type LineStatus, type Seal } from '../../common/ledger.js'
import { scopeAffiliate } from '../auth.js'
import { Limit, OPERATOR_OR_AFFILIATE, ParamCount, ParamId, type ApiPlugin } from '../http.js'

const LedgerQuery = z
  .object({
    affiliateId: ParamId.optional(),
    /** lines after this chain number (the previous page's `next`) */
    after: ParamCount.optional(),
    limit: Limit.optional(),
  })
  .strict()

type Row = {
  affiliate_id: string
  no: string
  line_id: string
  kind: LineKind
  status: LineStatus
  period: string
  occurred_at: string
  payable_at: string | null
  deal_id: string
  deal_version: string
  player_key: string
  player_ref: string
  cause_event_id: string
  original_amount: string
  original_currency: string
  amount: string
  currency: string
  fx_rate: string
  fx_date: string
  ref_line_id: string
  estimated: string
  reason: string
  stream_seq: string
  stream_idx: string
  fact_n: string
  prev_hash: string
  hash: string
}

/** Decimal text as the line held it (ClickHouse pads to 12 decimals). */
const trim = canonicalAmount
const ms = (t: string) => Date.parse(`${t.replace(' ', 'T')}Z`)

export function lineOf(r: Row): ChainedLine & { no: number } {
  return {
    id: r.line_id,
    affiliateId: Number(r.affiliate_id),
    no: Number(r.no),
    seq: Number(r.stream_seq),
    idx: Number(r.stream_idx),
    n: Number(r.fact_n),
    occurredAt: ms(r.occurred_at),
    period: r.period,
    kind: r.kind,
    dealId: r.deal_id,
    dealVersion: Number(r.deal_version),
    playerKey: r.player_key,
    playerRef: r.player_ref,
    causeEventId: r.cause_event_id,
    status: r.status,
    ...(r.payable_at ? { payableAt: ms(r.payable_at) } : {}),
    originalAmount: trim(r.original_amount),
    originalCurrency: r.original_currency,
    amount: trim(r.amount),
    currency: r.currency,
    fxRate: trim(r.fx_rate),
    fxDate: r.fx_date,
    ...(r.ref_line_id ? { refLineId: r.ref_line_id } : {}),
    estimated: r.estimated === '1',
    reason: r.reason,
    prevHash: r.prev_hash,
    hash: r.hash,
  }
}

const COLUMNS = `toString(affiliate_id) AS affiliate_id, toString(no) AS no, line_id, kind, status, period, toString(occurred_at) AS occurred_at,
  if(isNull(payable_at), NULL, toString(payable_at)) AS payable_at, deal_id, toString(deal_version) AS deal_version, player_key, player_ref, cause_event_id,
  toString(original_amount) AS original_amount, original_currency, toString(amount) AS amount, currency, toString(fx_rate) AS fx_rate, fx_date, ref_line_id,
  toString(estimated) AS estimated, reason, toString(stream_seq) AS stream_seq, toString(stream_idx) AS stream_idx, toString(fact_n) AS fact_n, prev_hash, hash`

export async function ledgerLines(ch: ClickHouseClient, q: { affiliateId: number; after?: number; limit?: number }): Promise<(ChainedLine & { no: number })[]> {
  const rows = await queryRows<Row>(
    ch,
    // the table's own columns named through its alias: the SELECT's text aliases share their names
    `SELECT ${COLUMNS} FROM ledger_lines AS t FINAL WHERE t.affiliate_id = {a:UInt32} AND t.no > {after:UInt64} ORDER BY t.no ${q.limit ? 'LIMIT {limit:UInt32}' : ''}`,
    { a: q.affiliateId, after: q.after ?? 0, limit: q.limit ?? 0 },
  )
  return rows.map(lineOf)
}

/** The seals of an affiliate's statements: each closed period's chain number and hash. */
export async function sealsOf(ch: ClickHouseClient, affiliateId: number): Promise<Seal[]> {
  const rows = await queryRows<{ period: string; no: string; hash: string }>(
    ch,
    'SELECT t.period AS period, toString(t.seal_no) AS no, t.seal_hash AS hash FROM statements AS t FINAL WHERE t.affiliate_id = {a:UInt32} ORDER BY t.seal_no, t.period',
    { a: affiliateId },
  )
  return rows.map((r) => ({ period: r.period, no: Number(r.no), hash: r.hash }))
}

export const ledgerRoutes: ApiPlugin = (app, d) => {
  const affiliateOf = (p: Parameters<typeof scopeAffiliate>[0], asked: number | undefined) => {
    const a = scopeAffiliate(p, asked)
    if (a === undefined) throw new HttpError(400, 'invalid_request', 'say whose ledger: affiliateId', { affiliateId: 'required for an operator' })
    return a
  }

  app.get(
    '/api/ledger',
    { config: { who: OPERATOR_OR_AFFILIATE }, schema: { summary: "An affiliate's ledger lines in chain order, with their reasons and hashes", querystring: LedgerQuery } },
    async (req) => {
      const q = req.query
      const limit = Math.min(q.limit ?? 500, 5000)
      const items = await ledgerLines(d.ch, { affiliateId: affiliateOf(req.principal, q.affiliateId), after: q.after, limit })
      return { items, ...(items.length === limit ? { next: String(items.at(-1)!.no) } : {}) }
    },
  )

  app.get(
    '/api/ledger/verify',
    {
      config: { who: OPERATOR_OR_AFFILIATE },
      schema: {
        summary: "Check an affiliate's hash chain and its statements' seals: names the first line removed, altered or out of order, or the statement whose seal no longer matches",
        querystring: LedgerQuery.pick({ affiliateId: true }),
      },
    },
    async (req) => {
      const affiliateId = affiliateOf(req.principal, req.query.affiliateId)
      const lines = await ledgerLines(d.ch, { affiliateId })
      // a gap in the numbers is a removed line, whatever the hashes say
      const gap = lines.findIndex((l, i) => l.no !== i + 1)
      if (gap >= 0) return { affiliateId, ok: false, lines: gap, first: { at: gap, lineId: lines[gap]!.id, problem: 'removed_or_reordered' } }
      const seals = await sealsOf(d.ch, affiliateId)
      return { affiliateId, seals: seals.length, ...verifySealed(lines, seals) }
    },
  )

  // Everything an affiliate needs to check its ledger away from this system: every line in chain
  // order, and every statement's seal (`npm run verify -- <file>` checks the file).
  app.get(
    '/api/ledger/export',
    { config: { who: OPERATOR_OR_AFFILIATE }, schema: { summary: "An affiliate's ledger lines and statement seals as one JSON file, to check with npm run verify", querystring: LedgerQuery.pick({ affiliateId: true }) } },
    async (req, reply) => {
      const affiliateId = affiliateOf(req.principal, req.query.affiliateId)
      const [lines, seals] = await Promise.all([ledgerLines(d.ch, { affiliateId }), sealsOf(d.ch, affiliateId)])
      void reply.header('content-disposition', `attachment; filename="ledger-${affiliateId}.json"`)
      return { affiliateId, exportedAt: new Date().toISOString(), lines, seals }
    },
  )
}
