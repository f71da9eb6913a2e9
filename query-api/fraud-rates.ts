/**
 * Conversion-rate anomalies, computed on read (docs/fraud.md): an affiliate, and each of its
 * sub-ids, whose conversion rate of the last 7 days is far above its own rate of the 5 weeks
 * before (common/fraud/rate-anomaly.ts), by the affiliate's settings (its `anomalyZ`, and the
 * rule in shadow mode or not).
 *
 * - Per affiliate: valid clicks and attributed registrations of each week.
 * - Per sub-id: a conversion row does not carry its click's sub-ids, so a sub-id's rate is taken
 *   by click cohort: of the sub-id's valid clicks of each week, those an attributed registration
 *   names. The last week's cohort is still converting (a rate that can only grow), so the rule
 *   errs towards saying nothing.
 */
import { queryRows, type ClickHouseClient } from '../clickhouse/client.js'
import type { FraudSettings } from '../common/entities/fraud.js'
import { rateAnomaly } from '../common/fraud/rate-anomaly.js'

export type RateAnomaly = { affiliateId: number; sub1?: string; score: number; evidence: Record<string, unknown> }

const WEEKS = 6
type Week = { clicks: number; conversions: number }
type Row = { affiliate_id: string; sub1?: string; week: string; clicks: string; regs: string }

/** Both lists, each highest score first. */
export async function rateAnomalies(
  ch: ClickHouseClient,
  to: number,
  settingsOf: (affiliateId: number) => FraudSettings,
): Promise<{ affiliates: RateAnomaly[]; subIds: RateAnomaly[] }> {
  const week = (col: string) => `toString(intDiv(dateDiff('second', ${col}, fromUnixTimestamp64Milli({to:Int64})), 604800))`
  const within = (col: string) => `${col} >= fromUnixTimestamp64Milli({to:Int64}) - INTERVAL ${WEEKS * 7} DAY AND ${col} < fromUnixTimestamp64Milli({to:Int64})`
  const [perAffiliate, perSub] = await Promise.all([
    queryRows<Row>(
      ch,
      `SELECT affiliate_id, ${week('ts')} AS week,
              toString(countIf(kind = 'click' AND status = 'valid')) AS clicks, toString(countIf(kind = 'registration' AND status = 'attributed')) AS regs
         FROM events WHERE ${within('ts')} AND kind IN ('click', 'registration') AND affiliate_id > 0
        GROUP BY affiliate_id, week`,
      { to },
    ),
    queryRows<Row>(
      ch,
      `SELECT c.affiliate_id AS affiliate_id, c.sub1 AS sub1, ${week('c.ts')} AS week, toString(count()) AS clicks, toString(countIf(r.click_id != '')) AS regs
         FROM (SELECT event_id, affiliate_id, sub1, ts FROM events
                WHERE kind = 'click' AND status = 'valid' AND sub1 != '' AND affiliate_id > 0 AND ${within('ts')}) AS c
         LEFT JOIN (SELECT DISTINCT affiliate_id, click_id FROM events
                     WHERE kind = 'registration' AND status = 'attributed' AND click_id != '' AND ${within('ts')}) AS r
           ON r.affiliate_id = c.affiliate_id AND r.click_id = c.event_id
        GROUP BY affiliate_id, sub1, week`,
      { to },
    ),
  ])
  return { affiliates: judge(perAffiliate, settingsOf), subIds: judge(perSub, settingsOf) }
}

function judge(rows: Row[], settingsOf: (affiliateId: number) => FraudSettings): RateAnomaly[] {
  const series = new Map<string, { affiliateId: number; sub1?: string; weeks: Week[] }>()
  for (const r of rows) {
    const k = `${r.affiliate_id}|${r.sub1 ?? ''}`
    let s = series.get(k)
    if (!s) {
      s = { affiliateId: Number(r.affiliate_id), weeks: Array.from({ length: WEEKS }, () => ({ clicks: 0, conversions: 0 })) }
      if (r.sub1 !== undefined) s.sub1 = r.sub1
      series.set(k, s)
    }
    const i = Number(r.week)
    if (i < WEEKS) s.weeks[i] = { clicks: Number(r.clicks), conversions: Number(r.regs) }
  }
  const out: RateAnomaly[] = []
  for (const s of series.values()) {
    const settings = settingsOf(s.affiliateId)
    if (settings.shadow.rate_anomaly) continue
    const f = rateAnomaly(s.weeks[0]!, s.weeks.slice(1), settings)
    if (f) out.push({ affiliateId: s.affiliateId, ...(s.sub1 !== undefined ? { sub1: s.sub1 } : {}), score: f.score, evidence: f.evidence })
  }
  return out.sort((a, b) => b.score - a.score)
}
