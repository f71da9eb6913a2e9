/**
 * What a close takes of every affiliate's chain, in SQL: `collect` of
 * processor/domain/settlement/statement.ts at scale (a test runs both on the same lines). A line
 * is taken when it is of the close's period kind, at or before its period, within the chain as
 * it stood at the close (`no` ≤ the affiliate's bound), payable at the close, and was not payable
 * at the affiliate's previous close of that kind (when it was within that close's bounds). A
 * status "at" a time follows common/line-status.ts: a pending line whose hold ended is payable;
 * a reversal counts where the line it reverses counts.
 */
import { D } from '../common/money.js'
import { periodKindOf } from '../common/periods.js'
import type { CloseMark, Collected } from '../common/statement.js'
import { queryRows, type ClickHouseClient } from './client.js'

/** One affiliate's bounds for a close: its chain length at the close, and its previous close of the kind. */
export type CloseBounds = { affiliateId: number; no: number; previous?: { period: string; asOf: number; no: number } }

const PERIOD_RE = { month: '^[0-9]{4}-[0-9]{2}$', week: '^[0-9]{4}-W[0-9]{2}$' } as const

/** A line's own status at time `at` (a DateTime64 expression). */
const own = (t: string, at: string) =>
  `multiIf(${t}.status = 'pending' AND ${t}.payable_at IS NOT NULL AND ${t}.payable_at <= ${at}, 'payable', ${t}.status = 'pending', 'pending', ${t}.status = 'held', 'held', ${t}.status = 'rejected', 'rejected', 'payable')`
/** Line `t`'s status at `at`, a reversal by the line `r` it reverses. */
const statusAt = (at: string) => `multiIf(t.status = 'reversed' AND r.status != '', ${own('r', at)}, t.status = 'reversed', 'payable', ${own('t', at)})`

/** The lines of the close with their status at it and at the previous close ('' when outside it). */
function linesSql(): string {
  return `
  SELECT t.affiliate_id AS aff, t.kind AS kind, t.deal_id AS deal_id, t.deal_version AS deal_version, t.currency AS currency,
         t.ref_line_id AS ref_line_id, t.amount AS amount,
         ${statusAt("fromUnixTimestamp64Milli({asOf:Int64}, 'UTC')")} AS st_now,
         if(b.pn > 0 AND t.no <= b.pn AND t.period <= b.pp, ${statusAt("fromUnixTimestamp64Milli(b.pa, 'UTC')")}, '') AS st_prev
  FROM (SELECT * FROM ledger_lines FINAL) AS t
  INNER JOIN (
    SELECT z.1 AS aff, z.2 AS seal, z.3 AS pp, z.4 AS pa, z.5 AS pn
    FROM (SELECT arrayJoin(arrayZip({affs:Array(UInt32)}, {seals:Array(UInt64)}, {pps:Array(String)}, {pas:Array(Int64)}, {pns:Array(UInt64)})) AS z)
  ) AS b ON b.aff = t.affiliate_id
  LEFT JOIN (SELECT affiliate_id, line_id, status, payable_at FROM ledger_lines FINAL
             WHERE line_id IN (SELECT ref_line_id FROM ledger_lines WHERE status = 'reversed')) AS r
    ON r.affiliate_id = t.affiliate_id AND r.line_id = t.ref_line_id
  WHERE t.no <= b.seal AND t.period <= {period:String} AND match(t.period, {re:String}) AND t.kind != 'payment'`
}

/** What the close takes of each affiliate's chain, grouped as `collect` groups it. */
export async function collectInSql(ch: ClickHouseClient, close: CloseMark, bounds: readonly CloseBounds[]): Promise<Map<number, Collected>> {
  const kind = periodKindOf(close.period)
  if (!kind) throw new Error(`not a period: ${close.period}`)
  const out = new Map<number, Collected>()
  if (bounds.length === 0) return out
  const params = {
    asOf: close.asOf,
    period: close.period,
    re: PERIOD_RE[kind],
    affs: bounds.map((b) => b.affiliateId),
    seals: bounds.map((b) => b.no),
    pps: bounds.map((b) => b.previous?.period ?? ''),
    pas: bounds.map((b) => b.previous?.asOf ?? 0),
    pns: bounds.map((b) => b.previous?.no ?? 0),
  }
  const of = (aff: number) => {
    let c = out.get(aff)
    if (!c) out.set(aff, (c = { groups: [], waiting: {} }))
    return c
  }
  // a rounding line joins the statement line it rounded: st:<affiliate>:<period>:<kind>:<deal>:<version>:<currency>
  const part = (i: number, own: string) => `if(kind = 'rounding' AND ref_line_id != '', splitByChar(':', ref_line_id)[${i}], ${own})`
  const taken = await queryRows<{ aff: number; kind: string; deal_id: string; deal_version: string; currency: string; lines: string; sum: string }>(
    ch,
    `SELECT aff, ${part(4, 'kind')} AS g_kind, ${part(5, 'deal_id')} AS g_deal, ${part(6, 'toString(deal_version)')} AS g_version, ${part(7, 'currency')} AS g_currency,
            g_kind AS kind, g_deal AS deal_id, g_version AS deal_version, g_currency AS currency, toString(count()) AS lines, toString(sum(amount)) AS sum
     FROM (${linesSql()})
     WHERE st_now = 'payable' AND st_prev != 'payable'
     GROUP BY aff, g_kind, g_deal, g_version, g_currency
     ORDER BY aff, g_kind, g_deal, g_version, g_currency`,
    params,
  )
  for (const r of taken)
    of(Number(r.aff)).groups.push({
      kind: r.kind,
      dealId: r.deal_id,
      dealVersion: Number(r.deal_version),
      currency: r.currency,
      lines: Number(r.lines),
      sum: new D(r.sum).toFixed(),
    })
  const waiting = await queryRows<{ aff: number; currency: string; st: 'pending' | 'held'; sum: string }>(
    ch,
    `SELECT aff, currency, st_now AS st, toString(sum(amount)) AS sum FROM (${linesSql()})
     WHERE st_now IN ('pending', 'held') GROUP BY aff, currency, st ORDER BY aff, currency, st`,
    params,
  )
  for (const r of waiting) {
    const w = (of(Number(r.aff)).waiting[r.currency] ??= { pending: '0', held: '0' })
    w[r.st] = new D(r.sum).toFixed()
  }
  return out
}
