/**
 * Conversion-rate anomalies against real chDB: six weeks of clicks and registrations; a sub-id
 * whose last week converts far above its own five weeks before is flagged (and its affiliate,
 * whose rate it lifts), a steady sub-id and a steady affiliate are not; the rule in shadow mode
 * for an affiliate, or a higher z threshold of its own, says nothing for it.
 */
import { describe, expect, it, beforeAll } from 'vitest'
import { insertFormatted } from '../clickhouse/client.js'
import { chTime } from '../common/chtime.js'
import { DEFAULT_FRAUD_SETTINGS as D, type FraudSettings } from '../common/entities/fraud.js'
import { eventRowTsv, EVENT_COLUMNS, type EventRow } from '../processor/rows.js'
import { migratedChdb } from '../test/helpers/chdb.js'
import { clickRow } from '../test/helpers/rows.js'
import { rateAnomalies } from './fraud-rates.js'

const db = migratedChdb('fraud-rates')
const TO = Date.UTC(2026, 10, 29, 12)
const DAY = 86_400_000

/** registrations per 100 clicks of each week, week 0 (the last 7 days) first */
const SERIES: { affiliate: number; sub1: string; regs: number[] }[] = [
  { affiliate: 1, sub1: 'steady', regs: [5, 4, 5, 6, 5, 4] },
  { affiliate: 1, sub1: 'burst', regs: [40, 4, 5, 6, 5, 4] },
  { affiliate: 2, sub1: 'steady', regs: [6, 5, 4, 5, 6, 5] },
  { affiliate: 3, sub1: 'burst', regs: [40, 4, 5, 6, 5, 4] },
]

beforeAll(async () => {
  const rows: EventRow[] = []
  let seq = 0
  for (const s of SERIES)
    s.regs.forEach((regs, week) => {
      for (let i = 0; i < 100; i++) {
        const at = TO - week * 7 * DAY - 3 * DAY + i * 60_000
        const id = `c-${s.affiliate}-${s.sub1}-${week}-${i}`
        rows.push(clickRow({ event_id: id, affiliate_id: s.affiliate, sub1: s.sub1, ts: chTime(at), stream_seq: ++seq }))
        if (i < regs)
          rows.push(
            clickRow({ event_id: `r-${id}`, kind: 'registration', status: 'attributed', click_id: id, affiliate_id: s.affiliate, ts: chTime(at + 3_600_000), stream_seq: ++seq }),
          )
      }
    })
  // a registration naming another affiliate's click counts for neither sub-id
  rows.push(clickRow({ event_id: 'r-stray', kind: 'registration', status: 'attributed', click_id: 'c-2-steady-0-99', affiliate_id: 1, ts: chTime(TO - DAY), stream_seq: ++seq }))
  await insertFormatted(db.ch, { table: 'events', columns: EVENT_COLUMNS, format: 'TabSeparated', body: rows.map(eventRowTsv).join(''), token: 'test:rates' })
})

const settings =
  (per: Record<number, Partial<FraudSettings>> = {}) =>
  (id: number): FraudSettings => ({ ...D, ...per[id] })

describe('conversion-rate anomalies', () => {
  it('flags the sub-id that converts far above its own baseline, and its affiliate; not the steady ones', async () => {
    const got = await rateAnomalies(db.ch, TO, settings())
    expect(got.subIds.map((a) => [a.affiliateId, a.sub1])).toEqual(
      expect.arrayContaining([
        [1, 'burst'],
        [3, 'burst'],
      ]),
    )
    expect(got.subIds).toHaveLength(2)
    const burst = got.subIds.find((a) => a.affiliateId === 1)!
    expect(burst.evidence).toMatchObject({ rate: 0.4, baselineMean: 0.048 })
    expect(burst.score).toBe(100)
    expect(got.affiliates.map((a) => a.affiliateId).sort()).toEqual([1, 3])
    // affiliate 1: (5 + 40 + the stray one) registrations of 200 clicks last week against ~5%
    expect(got.affiliates.find((a) => a.affiliateId === 1)!.evidence).toMatchObject({ rate: 0.23 })
  })

  it("an affiliate's own settings: its rule in shadow mode, or a higher threshold, says nothing for it", async () => {
    const got = await rateAnomalies(db.ch, TO, settings({ 1: { shadow: { rate_anomaly: true } }, 3: { anomalyZ: 100 } }))
    expect(got).toEqual({ affiliates: [], subIds: [] })
  })
})
