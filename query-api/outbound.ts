/** Reads for outbound postbacks: the attempt log, and an attributed event to fire again. */
import type { ClickHouseClient } from '../clickhouse/client.js'
import { queryRows } from '../clickhouse/client.js'
import { TEST_EVENT_PREFIX, type AttemptView, type Notice } from '../common/outbound.js'

/** The view lives with the outbound contract in common/ (the dashboard reads it too). */
export type { AttemptView }

export async function attempts(ch: ClickHouseClient, q: { affiliateId?: number; eventId?: string; endpointId?: number; limit: number }): Promise<AttemptView[]> {
  const where: string[] = []
  if (q.affiliateId !== undefined) where.push('affiliate_id = {aff:UInt32}')
  if (q.eventId !== undefined) where.push('event_id = {ev:String}')
  if (q.endpointId !== undefined) where.push('endpoint_id = {ep:UInt32}')
  const rows = await queryRows<Record<string, string>>(
    ch,
    `SELECT delivery_id, event_id, kind, toString(endpoint_id) AS ep_s, toString(affiliate_id) AS aff_s, toString(attempt) AS attempt_s,
            toString(toUnixTimestamp64Milli(ts)) AS ts_ms, url, toString(status_code) AS status_s, error, toString(duration_ms) AS ms_s, outcome
     FROM postback_attempts ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY ts DESC, delivery_id, attempt DESC LIMIT {limit:UInt32}`,
    { aff: q.affiliateId ?? 0, ev: q.eventId ?? '', ep: q.endpointId ?? 0, limit: q.limit },
  )
  return rows.map((r) => ({
    deliveryId: r.delivery_id!,
    eventId: r.event_id!,
    kind: r.kind!,
    endpointId: Number(r.ep_s),
    affiliateId: Number(r.aff_s),
    attempt: Number(r.attempt_s),
    ts: new Date(Number(r.ts_ms)).toISOString(),
    url: r.url!,
    statusCode: Number(r.status_s),
    error: r.error!,
    durationMs: Number(r.ms_s),
    outcome: r.outcome!,
    test: r.event_id!.startsWith(TEST_EVENT_PREFIX),
  }))
}

/** The event as an outbound postback sees it, if it is attributed to this affiliate. */
export async function attributedEvent(ch: ClickHouseClient, eventId: string, affiliateId: number): Promise<Notice | undefined> {
  const [r] = await queryRows<Record<string, string>>(
    ch,
    `SELECT event_id, kind, toString(toUnixTimestamp64Milli(ts)) AS ts_ms, toString(offer_id) AS offer_s, click_id, player_ref,
            toString(amount) AS amount_s, currency
     FROM events WHERE event_id = {ev:String} AND affiliate_id = {aff:UInt32} AND status = 'attributed' AND kind NOT IN ('click', 'reassign')
     ORDER BY ts DESC LIMIT 1`,
    { ev: eventId, aff: affiliateId },
  )
  if (!r) return undefined
  return {
    eventId: r.event_id!,
    kind: r.kind!,
    ts: Number(r.ts_ms),
    affiliateId,
    offerId: Number(r.offer_s),
    clickId: r.click_id!,
    player: r.player_ref!,
    amount: r.currency ? r.amount_s! : '',
    currency: r.currency!,
  }
}
