/**
 * The sub-ids of the clicks some conversions came through, for outbound postbacks that pass
 * them back (an affiliate's own click id in sub1 is the common case). A click id carries its
 * affiliate and time, so each lookup hits the events table's sort key (affiliate, kind, ts).
 */
import type { ClickHouseClient } from '../clickhouse/client.js'
import { queryRows } from '../clickhouse/client.js'
import { chTime } from './chtime.js'
import type { ClickSubs, Notice } from './outbound.js'

/** Time and affiliate as the click id says (bytes 1-6: ms, 11-14: affiliate); no secret needed
 *  to read them, and the ids here were verified when the conversion was attributed. */
function claims(clickId: string): { ts: number; affiliateId: number } | undefined {
  const b = Buffer.from(clickId, 'base64url')
  if (b.length !== 39) return undefined
  return { ts: b.readUIntBE(1, 6), affiliateId: b.readUInt32BE(11) }
}

export async function clickSubs(ch: ClickHouseClient, notices: readonly Notice[]): Promise<ClickSubs> {
  const keys = new Map<string, { ts: number; affiliateId: number }>()
  for (const n of notices) {
    const c = n.clickId ? claims(n.clickId) : undefined
    if (c) keys.set(n.clickId, c)
  }
  const out: ClickSubs = new Map()
  if (keys.size === 0) return out
  const ids = [...keys.keys()]
  for (let i = 0; i < ids.length; i += 1000) {
    const chunk = ids.slice(i, i + 1000)
    // Click ids are base64url (checked above by their decoded length and below by pattern),
    // so the key list is written inline.
    const tuples = chunk
      .filter((id) => /^[A-Za-z0-9_-]+$/.test(id))
      .map((id) => `(${keys.get(id)!.affiliateId}, toDateTime64('${chTime(keys.get(id)!.ts)}', 3, 'UTC'), '${id}')`)
    if (tuples.length === 0) continue
    const rows = await queryRows<{ event_id: string; sub1: string; sub2: string; sub3: string; sub4: string; sub5: string }>(
      ch,
      `SELECT event_id, sub1, sub2, sub3, sub4, sub5 FROM events
       WHERE kind = 'click' AND (affiliate_id, ts, event_id) IN (${tuples.join(', ')})
       LIMIT 1 BY event_id`,
    )
    for (const r of rows) out.set(r.event_id, { sub1: r.sub1, sub2: r.sub2, sub3: r.sub3, sub4: r.sub4, sub5: r.sub5 })
  }
  return out
}
