/**
 * The affiliate stage's close against a real nats-server and chDB, with the save of the books
 * cut short: a close changes many books, and a crash can leave some saved and some not. The
 * redo must start from the books as they were before the close, or a recruiter's book saved
 * with a sub-affiliate's true-up would get it twice and number its chain differently. Here the
 * first save of each close stores one book and fails; the stage tries again, and the ledger and
 * the statements end as the simulator's.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { ensureTopology } from '../common/nats.js'
import { ledgerLines } from '../query-api/routes/ledger.js'
import { queryRows } from '../clickhouse/client.js'
import { D } from '../common/money.js'
import { migratedChdb } from '../test/helpers/chdb.js'
import { testConfig } from '../test/helpers/config.js'
import { natsPerFile } from '../test/helpers/nats-hooks.js'
import { runCutStage } from '../test/helpers/stage.js'
import { ScenarioSchema, simulate } from './simulator.js'

const nats = natsPerFile()
const db = migratedChdb('ch-affiliate-stage')

beforeAll(async () => {
  await ensureTopology(nats.nc, testConfig())
})

const ftd = (p: string, day: string) => [
  { at: `${day}T10:00:00Z`, kind: 'registration', player: p, affiliate: 2 },
  { at: `${day}T11:00:00Z`, kind: 'ftd', player: p, amount: '100', currency: 'USD' },
]

// a sub-affiliate on retroactive CPA tiers with a hold, trued up at each close; its recruiter
// earns 10% of every line, the true-ups too
const scenario = ScenarioSchema.parse({
  program: { currency: 'USD' },
  affiliates: [{ id: 1 }, { id: 2, parentId: 1 }],
  deals: [
    { id: 'rec', affiliateId: 1, versions: [{ effectiveFrom: '2026-01-01', terms: { currency: 'USD', subAffiliate: { tiers: ['0.1'] } } }] },
    {
      id: 'retro',
      affiliateId: 2,
      versions: [
        {
          effectiveFrom: '2026-01-01',
          terms: {
            currency: 'USD',
            cpa: {
              amount: '250',
              holdDays: 30,
              retroTiers: [
                { at: 3, amount: '275' },
                { at: 5, amount: '300' },
              ],
            },
          },
        },
      ],
    },
  ],
  events: [
    ...['01', '02', '03', '04', '28'].flatMap((d, i) => ftd(`p${i}`, `2026-04-${d}`)),
    { at: '2026-05-05T00:00:00Z', close: '2026-04' },
    ...ftd('p9', '2026-05-10'),
    { at: '2026-06-05T00:00:00Z', close: '2026-05' },
  ],
})

describe('a close whose save of the books is cut short', () => {
  it('is redone from the books as they were before it, and ends as the simulator says', async () => {
    const { nc } = nats
    const sim = simulate(scenario)
    expect(sim.lines.some((l) => l.kind === 'sub' && l.causeEventId.startsWith('close:'))).toBe(true) // a recruiter's share of a true-up
    // the first two saves of several books (the close's among them) store one book, then die
    const { stage, cuts } = await runCutStage(nc, db.ch, scenario, {
      consumer: 'affiliate-cut',
      batchMessages: 4,
      closes: 2,
      cut: { times: 2, when: (entries, program) => !program && entries.length > 1, keep: (entries) => entries.slice(0, 1) },
    })
    expect(cuts).toBe(2)
    expect(stage.stats.closes).toBe(2)

    for (const aff of [1, 2]) {
      const got = await ledgerLines(db.ch, { affiliateId: aff })
      expect(got.map((l) => [l.no, l.id, l.amount, l.hash])).toEqual(sim.lines.filter((l) => l.affiliateId === aff).map((l) => [l.no, l.id, l.amount, l.hash]))
    }
    const rows = await queryRows<{ a: string; p: string; no: string; hash: string; payable: string }>(
      db.ch,
      `SELECT toString(s.affiliate_id) AS a, s.period AS p, toString(s.seal_no) AS no, s.seal_hash AS hash, toString(t.payable) AS payable
       FROM statements AS s FINAL JOIN statement_totals AS t FINAL ON t.affiliate_id = s.affiliate_id AND t.period = s.period ORDER BY a, p`,
    )
    const payable = (s: (typeof sim.statements)[number]) => s.totals.find((t) => t.currency === 'USD')?.payable
    expect(rows.map((r) => [Number(r.a), r.p, Number(r.no), r.hash, new D(r.payable).toFixed(2)])).toEqual(
      [...sim.statements]
        .sort((x, y) => x.affiliateId - y.affiliateId || (x.period < y.period ? -1 : 1))
        .map((s) => [s.affiliateId, s.period, s.seal.no, s.seal.hash, payable(s)]),
    )
  }, 60_000)
})
