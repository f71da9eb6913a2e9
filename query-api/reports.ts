/**
 * Reports from the per-minute rollups. Money leaves ClickHouse as strings and is summed
 * with decimal.js, per currency.
 */
import type { ClickHouseClient } from '../clickhouse/client.js'
import { queryRows } from '../clickhouse/client.js'
import { COUNTED } from '../clickhouse/counters.js'
import { moneyTotals } from '../clickhouse/facts-totals.js'
import { D } from '../common/money.js'

export type Counters = { clicks: number; registrations: number; ftds: number; unattributed: number; commission: Record<string, string> }
export type SummaryRow = Counters & { affiliateId: number; minute: number }
export type Summary = {
  from: string
  to: string
  /** per consumer, the last stream sequence whose rows are included: drop live deltas up to it */
  asOf: Record<string, number>
  totals: Counters
  byAffiliate: (Counters & { affiliateId: number })[]
  byMinute: (Counters & { minute: number })[]
}

const empty = (): Counters => ({ clicks: 0, registrations: 0, ftds: 0, unattributed: 0, commission: {} })

function add(into: Counters, r: Partial<Counters>) {
  into.clicks += r.clicks ?? 0
  into.registrations += r.registrations ?? 0
  into.ftds += r.ftds ?? 0
  into.unattributed += r.unattributed ?? 0
  for (const [c, a] of Object.entries(r.commission ?? {})) into.commission[c] = new D(into.commission[c] ?? 0).plus(a).toFixed()
}

export async function watermarks(ch: ClickHouseClient): Promise<Record<string, number>> {
  const rows = await queryRows<{ consumer: string; last: string }>(
    ch,
    'SELECT consumer, toString(max(last_seq)) AS last FROM processed_batches GROUP BY consumer',
  )
  return Object.fromEntries(rows.map((r) => [r.consumer, Number(r.last)]))
}

export async function summary(ch: ClickHouseClient, q: { from: Date; to: Date; affiliateId?: number }): Promise<Summary> {
  const asOf = await watermarks(ch)
  const params = { from: Math.floor(q.from.getTime() / 1000), to: Math.ceil(q.to.getTime() / 1000), aff: q.affiliateId ?? 0 }
  const where = `minute >= toDateTime({from:UInt32}) AND minute < toDateTime({to:UInt32})${q.affiliateId !== undefined ? ' AND affiliate_id = {aff:UInt32}' : ''}`
  const [ev, com] = await Promise.all([
    queryRows<{ a: string; m: string; clicks: string; registrations: string; ftds: string; unattributed: string }>(
      ch,
      `SELECT toString(affiliate_id) AS a, toString(toUnixTimestamp(minute)) AS m,
              toString(sumIf(events, ${COUNTED.clicks})) AS clicks,
              toString(sumIf(events, ${COUNTED.registrations})) AS registrations,
              toString(sumIf(events, ${COUNTED.ftds})) AS ftds,
              toString(sumIf(events, ${COUNTED.unattributed})) AS unattributed
       FROM events_minute WHERE ${where} GROUP BY a, m`,
      params,
    ),
    // commission straight from the ledger (each line once), by the minute its event happened
    queryRows<{ a: string; m: string; currency: string; amount: string }>(
      ch,
      `SELECT toString(affiliate_id) AS a, toString(toUnixTimestamp(minute)) AS m, currency, toString(sum(amount)) AS amount
       FROM (SELECT affiliate_id, toStartOfMinute(occurred_at) AS minute, currency, amount FROM ledger_lines FINAL)
       WHERE ${where} GROUP BY a, m, currency`,
      params,
    ),
  ])
  const totals = empty()
  const byAff = new Map<number, Counters>()
  const byMin = new Map<number, Counters>()
  const bucket = <K>(m: Map<K, Counters>, k: K) => m.get(k) ?? (m.set(k, empty()), m.get(k)!)
  for (const r of ev) {
    const c = { clicks: Number(r.clicks), registrations: Number(r.registrations), ftds: Number(r.ftds), unattributed: Number(r.unattributed) }
    add(totals, c)
    add(bucket(byAff, Number(r.a)), c)
    add(bucket(byMin, Number(r.m) * 1000), c)
  }
  for (const r of com) {
    const c = { commission: { [r.currency]: r.amount } }
    add(totals, c)
    add(bucket(byAff, Number(r.a)), c)
    add(bucket(byMin, Number(r.m) * 1000), c)
  }
  return {
    from: q.from.toISOString(),
    to: q.to.toISOString(),
    asOf,
    totals,
    byAffiliate: [...byAff].map(([affiliateId, c]) => ({ affiliateId, ...c })).sort((a, b) => a.affiliateId - b.affiliateId),
    byMinute: [...byMin].map(([minute, c]) => ({ minute, ...c })).sort((a, b) => a.minute - b.minute),
  }
}

/** Raw tables against rollups: the numbers must agree to the unit and the cent. Both count by
 *  the same predicates (clickhouse/counters.ts). */
export async function reconcile(ch: ClickHouseClient) {
  const [raw] = await queryRows<Record<string, string>>(
    ch,
    `SELECT toString(countIf(${COUNTED.clicks})) AS clicks,
            toString(countIf(${COUNTED.registrations})) AS registrations,
            toString(countIf(${COUNTED.ftds})) AS ftds,
            toString(countIf(${COUNTED.unattributed})) AS unattributed,
            toString(countIf(${COUNTED.duplicates})) AS duplicates,
            toString(count()) AS events, toString(uniqExact(event_id)) AS distinct_events
     FROM events`,
  )
  // The ledger as written (each line once: FINAL), and how many rows reached the table (a line
  // written twice would show here before a merge folds it).
  const ledger = await queryRows<{ currency: string; amount: string; entries: string }>(
    ch,
    'SELECT currency, toString(sum(amount)) AS amount, toString(count()) AS entries FROM ledger_lines FINAL GROUP BY currency ORDER BY currency',
  )
  const [stored] = await queryRows<{ rows: string }>(ch, 'SELECT toString(count()) AS rows FROM ledger_lines')
  // The same for the statements of closed periods: one per affiliate and period.
  const [st] = await queryRows<{ rows: string; statements: string }>(ch, 'SELECT toString(count()) AS rows, toString(uniqExact(affiliate_id, period)) AS statements FROM statements')
  // Each affiliate's chain is numbered 1..n: a missing number is a lost line, never to be silent.
  const [gap] = await queryRows<{ missing: string }>(
    ch,
    `SELECT toString(sum(toUInt64(mx) - toUInt64(n))) AS missing FROM (SELECT affiliate_id, max(no) AS mx, uniqExact(no) AS n FROM ledger_lines GROUP BY affiliate_id)`,
  )
  const rollup = await summary(ch, { from: new Date(0), to: new Date(Date.now() + 366 * 86_400_000) })
  const [money, moneyRollup] = await Promise.all([moneyTotals(ch, 'player_facts'), moneyTotals(ch, 'player_day')])
  return {
    /** ledger lines missing from their affiliate's chain (a number skipped): 0 unless something was lost */
    ledgerGaps: Number(gap?.missing ?? 0),
    raw: {
      clicks: Number(raw!.clicks),
      registrations: Number(raw!.registrations),
      ftds: Number(raw!.ftds),
      unattributed: Number(raw!.unattributed),
      duplicates: Number(raw!.duplicates),
      events: Number(raw!.events),
      distinctEvents: Number(raw!.distinct_events),
      commission: Object.fromEntries(ledger.map((l) => [l.currency, new D(l.amount).toFixed()])),
      /** ledger lines, each once */
      ledgerEntries: ledger.reduce((n, l) => n + Number(l.entries), 0),
      /** rows in the table: more than the lines when one was written twice and not yet folded */
      ledgerRows: Number(stored?.rows ?? 0),
      /** statements of closed periods, each once; and rows in their table (more: one written twice) */
      statements: Number(st?.statements ?? 0),
      statementRows: Number(st?.rows ?? 0),
      /** players' money per currency (player_facts), with GGR and NGR */
      money,
    },
    rollup: rollup.totals,
    /** the same from the per-player-day rollup */
    moneyRollup,
    asOf: rollup.asOf,
  }
}
