/**
 * The one definition of GGR and NGR (clickhouse/facts.ts) in SQL and in TypeScript, run on
 * the same numbers in chDB; and the per-player-day rollup of the facts table dropping a
 * retried insert like the other rollups.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { D } from '../common/money.js'
import { migratedChdb } from '../test/helpers/chdb.js'
import { insertFormatted, queryRows } from './client.js'
import { FACT_FIELDS, FACT_SUMS_SQL, ggr, GGR_SQL, ngr, NGR_SQL, type MoneyFacts } from './facts.js'
import { FACT_COLUMNS, FACTS_INSERT } from '../processor/pipeline.js'
import { tsvRow } from '../processor/rows.js'

const db = migratedChdb('ch-facts')

const amount = fc.tuple(fc.boolean(), fc.bigInt({ min: 0n, max: 10n ** 20n }), fc.integer({ min: 0, max: 12 })).map(([neg, units, scale]) => {
  const s = units.toString().padStart(scale + 1, '0')
  const txt = scale === 0 ? s : `${s.slice(0, -scale)}.${s.slice(-scale)}`
  return neg && units > 0n ? `-${txt}` : txt
})

describe('GGR and NGR', () => {
  it('the SQL expression and the TypeScript function agree to the last decimal', async () => {
    const cases = fc.sample(
      fc.record(Object.fromEntries(FACT_FIELDS.map((f) => [f, amount])) as Record<(typeof FACT_FIELDS)[number], fc.Arbitrary<string>>),
      200,
    )
    // DOMAIN.md's worked numbers too: bets 1000, wins 850.50, bonuses 25, fees 2, adjustments -10, chargebacks 50
    cases.push({
      ...Object.fromEntries(FACT_FIELDS.map((f) => [f, '0'])),
      bets: '1000',
      wins: '850.50',
      bonuses: '25',
      fees: '2',
      adjustments: '-10',
      chargebacks: '50',
    } as never)
    const cols = FACT_FIELDS.map((f) => `toDecimal128({${f}:String}, 12) AS ${f}`).join(', ')
    for (const c of cases as MoneyFacts[]) {
      const [r] = await queryRows<{ ggr: string; ngr: string }>(
        db.ch,
        `SELECT toString(${GGR_SQL}) AS ggr, toString(${NGR_SQL}) AS ngr FROM (SELECT ${cols})`,
        c,
      )
      expect([r!.ggr, r!.ngr].map((x) => new D(x).toFixed())).toEqual([ggr(c), ngr(c)])
    }
    expect(ngr(cases.at(-1) as MoneyFacts)).toBe('82.5') // 149.5 − 25 − (−10) − 50 − 2
  })
})

describe('player_day', () => {
  // rows as the processor writes them (processor/pipeline.ts moneyFacts)
  const fact = (i: number, over: Record<string, string | number> = {}) =>
    tsvRow(FACT_COLUMNS, {
      event_id: `1:e${i}`,
      occurred_at: '2026-11-24 10:00:00.000',
      kind: 'activity',
      ts: '2026-11-24 10:00:00.000',
      day: '2026-11-23',
      affiliate_id: 5,
      player_ref: 'p1',
      currency: 'EUR',
      ...Object.fromEntries(FACT_FIELDS.map((f) => [f, '0'])),
      bets: '100.25',
      wins: '40.125',
      stream_seq: i,
      stream_idx: 0,
      ...over,
    } as Record<(typeof FACT_COLUMNS)[number], string | number>)

  it('sums facts per affiliate, player, day and currency; a retried insert (same token) is dropped there too', async () => {
    // an operator's event id may hold any character
    const body = fact(1, { event_id: '1:tab\there\nnew line \\N' }) + fact(2) + fact(3, { currency: 'USD' }) + fact(4, { day: '2026-11-24' })
    await insertFormatted(db.ch, { ...FACTS_INSERT, body, token: 'facts-test:1-4:player_facts' })
    await insertFormatted(db.ch, { ...FACTS_INSERT, body, token: 'facts-test:1-4:player_facts' })
    expect(await queryRows(db.ch, 'SELECT event_id FROM player_facts WHERE stream_seq = 1')).toEqual([{ event_id: '1:tab\there\nnew line \\N' }])
    const rows = await queryRows<Record<string, string>>(
      db.ch,
      `SELECT toString(day) AS d, currency, toString(events) AS n, toString(bets) AS b, toString(wins) AS w, toString(${GGR_SQL}) AS ggr
       FROM (SELECT day, currency, sum(events) AS events, ${FACT_SUMS_SQL} FROM player_day WHERE affiliate_id = 5 GROUP BY day, currency)
       ORDER BY day, currency`,
    )
    expect(rows).toEqual([
      { d: '2026-11-23', currency: 'EUR', n: '2', b: '200.5', w: '80.25', ggr: '120.25' },
      { d: '2026-11-23', currency: 'USD', n: '1', b: '100.25', w: '40.125', ggr: '60.125' },
      { d: '2026-11-24', currency: 'EUR', n: '1', b: '100.25', w: '40.125', ggr: '60.125' },
    ])
    const [n] = await queryRows<{ n: string }>(db.ch, 'SELECT toString(count()) AS n FROM player_facts WHERE affiliate_id = 5')
    expect(n!.n).toBe('4')
  })
})
