/**
 * The event log: recent clicks and conversions from the raw `events` table, newest first,
 * filtered by kind, status, reason, affiliate and time, paged by a cursor. An event that
 * arrived before its player's registration shows twice: parked, then applied when the
 * registration came. The unattributed report (`unmatched`) lists every event that found no
 * affiliate, with the reason, and every parked event still waiting. Affiliates see only their own rows and never a visitor's IP or user agent.
 * A conversion row carries the sub-ids of the click it came through (the click row of the
 * same affiliate) and the commission it earned (ledger lines it caused, of the same affiliate).
 */
import type { ClickHouseClient } from '../clickhouse/client.js'
import { queryRows } from '../clickhouse/client.js'
import type { EventLogRow } from '../common/api.js'
import { D, type Money } from '../common/money.js'

export type { EventLogRow }

export type EventLogQuery = {
  kind?: string
  status?: string
  reason?: string
  affiliateId?: number
  from?: Date
  to?: Date
  limit: number
  /** the `next` cursor of the previous page */
  cursor?: string
  /** operator view: IP and user agent included */
  full: boolean
  /** the unattributed report: events that found no affiliate, and parked events not applied yet */
  unmatched?: boolean
}


/** A cursor is the sort key of the last row of a page: time, event id and the stream
 *  position the row was written at (an event parked, then applied, has two rows). */
type Cursor = { tsMs: number; eventId: string; seq: number; idx: number }
export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.tsMs, c.eventId, c.seq, c.idx])).toString('base64url')
}
export function decodeCursor(c: string): Cursor | undefined {
  try {
    const [tsMs, eventId, seq, idx] = JSON.parse(Buffer.from(c, 'base64url').toString()) as unknown[]
    const int = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
    return int(tsMs) && typeof eventId === 'string' && int(seq) && int(idx) ? { tsMs, eventId, seq, idx } : undefined
  } catch {
    return undefined
  }
}

type Raw = {
  ts_ms: string
  kind: string
  event_id: string
  status: string
  reason: string
  s_affiliate_id: string
  s_link_id: string
  s_offer_id: string
  s_source_id: string
  click_id: string
  player_ref: string
  s_amount: string
  currency: string
  sub1: string
  sub2: string
  sub3: string
  sub4: string
  sub5: string
  details: Record<string, string>
  ip: string
  ua: string
  s_seq: string
  s_idx: number
  country: string
  device: string
  os: string
  browser: string
  is_bot: number
}

export async function eventLog(ch: ClickHouseClient, q: EventLogQuery): Promise<{ items: EventLogRow[]; next?: string }> {
  const where: string[] = []
  const params: Record<string, unknown> = { limit: q.limit + 1 }
  if (q.kind !== undefined) (where.push('kind = {kind:String}'), (params.kind = q.kind))
  if (q.status !== undefined) (where.push('status = {status:String}'), (params.status = q.status))
  if (q.reason !== undefined) (where.push('reason = {reason:String}'), (params.reason = q.reason))
  if (q.affiliateId !== undefined) (where.push('affiliate_id = {aff:UInt32}'), (params.aff = q.affiliateId))
  if (q.from) (where.push('ts >= fromUnixTimestamp64Milli({from:Int64})'), (params.from = q.from.getTime()))
  if (q.to) (where.push('ts < fromUnixTimestamp64Milli({to:Int64})'), (params.to = q.to.getTime()))
  if (q.unmatched)
    where.push(
      `kind != 'reassign' AND (status = 'unattributed' OR (status = 'parked' AND event_id NOT IN (SELECT event_id FROM events WHERE kind != 'click' AND status != 'parked')))`,
    )
  const cur = q.cursor ? decodeCursor(q.cursor) : undefined
  if (cur) {
    where.push('(ts, event_id, stream_seq, stream_idx) < (fromUnixTimestamp64Milli({cts:Int64}), {cid:String}, {cseq:UInt64}, {cidx:UInt32})')
    params.cts = cur.tsMs
    params.cid = cur.eventId
    params.cseq = cur.seq
    params.cidx = cur.idx
  }
  const rows = await queryRows<Raw>(
    ch,
    // Aliases differ from column names: ClickHouse resolves a WHERE name to a SELECT alias first.
    `SELECT toString(toUnixTimestamp64Milli(ts)) AS ts_ms, kind, event_id, status, reason,
            toString(affiliate_id) AS s_affiliate_id, toString(link_id) AS s_link_id, toString(offer_id) AS s_offer_id,
            toString(source_id) AS s_source_id, click_id, player_ref, toString(amount) AS s_amount, currency,
            sub1, sub2, sub3, sub4, sub5, details, ip, ua, toString(stream_seq) AS s_seq, stream_idx AS s_idx,
            country, device, os, browser, is_bot
     FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY ts DESC, event_id DESC, stream_seq DESC, stream_idx DESC
     LIMIT {limit:UInt32}`,
    params,
  )
  const page = rows.slice(0, q.limit)
  const items = page.map((r): EventLogRow => {
    const sub: Record<string, string> = {}
    for (const k of ['sub1', 'sub2', 'sub3', 'sub4', 'sub5'] as const) if (r[k]) sub[k] = r[k]
    return {
      ts: new Date(Number(r.ts_ms)).toISOString(),
      kind: r.kind,
      eventId: r.event_id,
      status: r.status,
      reason: r.reason,
      affiliateId: Number(r.s_affiliate_id),
      linkId: Number(r.s_link_id),
      offerId: Number(r.s_offer_id),
      sourceId: Number(r.s_source_id),
      clickId: r.click_id,
      playerRef: r.player_ref,
      amount: r.s_amount,
      currency: r.currency,
      sub,
      // who moved a player, why, and from whom is the operator's audit record
      details: !q.full && r.kind === 'reassign' ? {} : r.details,
      country: r.country,
      device: r.device,
      os: r.os,
      browser: r.browser,
      isBot: Number(r.is_bot) === 1,
      ...(q.full ? { ip: r.ip, ua: r.ua } : {}),
    }
  })
  await addClickSubs(ch, items)
  await addCommission(ch, items)
  const lastRow = page.at(-1)
  return { items, ...(rows.length > q.limit && lastRow ? { next: encodeCursor({ tsMs: Number(lastRow.ts_ms), eventId: lastRow.event_id, seq: Number(lastRow.s_seq), idx: Number(lastRow.s_idx) }) } : {}) }
}

const isConversion = (r: EventLogRow) => r.kind !== 'click' && r.kind !== 'reassign'

/** The sub-ids of each conversion's click. Only a click of the conversion's own affiliate
 *  counts: an unattributed row may name a click id that is someone else's. */
async function addClickSubs(ch: ClickHouseClient, items: EventLogRow[]) {
  const rows = items.filter((r) => isConversion(r) && r.clickId !== '' && r.affiliateId > 0)
  if (rows.length === 0) return
  const clicks = await queryRows<{ event_id: string; aff: string; sub1: string; sub2: string; sub3: string; sub4: string; sub5: string }>(
    ch,
    `SELECT event_id, toString(affiliate_id) AS aff, sub1, sub2, sub3, sub4, sub5 FROM events
     WHERE kind = 'click' AND affiliate_id IN {affs:Array(UInt32)} AND event_id IN {ids:Array(String)}
     LIMIT 1 BY affiliate_id, event_id`,
    { affs: [...new Set(rows.map((r) => r.affiliateId))], ids: [...new Set(rows.map((r) => r.clickId))] },
  )
  const byKey = new Map(clicks.map((c) => [`${c.aff}|${c.event_id}`, c]))
  for (const r of rows) {
    const c = byKey.get(`${r.affiliateId}|${r.clickId}`)
    if (!c) continue
    for (const k of ['sub1', 'sub2', 'sub3', 'sub4', 'sub5'] as const) if (c[k] && r.sub[k] === undefined) r.sub[k] = c[k]
  }
}

/** What each conversion earned: its ledger lines (by cause_event_id, the row's own affiliate), per currency; a
 *  line the affiliate stage has not written yet shows once it has. */
async function addCommission(ch: ClickHouseClient, items: EventLogRow[]) {
  const rows = items.filter(isConversion)
  for (const r of rows) r.commission = []
  const paid = rows.filter((r) => r.affiliateId > 0 && r.status === 'attributed')
  if (paid.length === 0) return
  const lines = await queryRows<{ cause: string; aff: string; currency: string; amount: string }>(
    ch,
    // A line has one place (affiliate, number in its chain): LIMIT 1 BY keeps a line written twice once.
    `SELECT cause_event_id AS cause, toString(affiliate_id) AS aff, currency, toString(amount) AS amount
     FROM (SELECT cause_event_id, affiliate_id, currency, amount FROM ledger_lines
           WHERE affiliate_id IN {affs:Array(UInt32)} AND cause_event_id IN {ids:Array(String)}
           LIMIT 1 BY affiliate_id, no)`,
    { affs: [...new Set(paid.map((r) => r.affiliateId))], ids: [...new Set(paid.map((r) => r.eventId))] },
  )
  const sums = new Map<string, Map<string, D>>()
  for (const l of lines) {
    const key = `${l.aff}|${l.cause}`
    const per = sums.get(key) ?? new Map<string, D>()
    per.set(l.currency, (per.get(l.currency) ?? new D(0)).plus(l.amount))
    sums.set(key, per)
  }
  for (const r of paid) {
    const per = sums.get(`${r.affiliateId}|${r.eventId}`)
    if (per) r.commission = [...per].sort(([a], [b]) => a.localeCompare(b)).map(([currency, amount]) => ({ amount: amount.toFixed(), currency }))
  }
}
