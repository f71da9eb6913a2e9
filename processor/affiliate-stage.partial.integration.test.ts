/**
 * An ordinary affiliate-stage batch whose save of the books is cut short, against a real
 * nats-server and chDB: a sub-affiliate's CPA facts also write its recruiter's share into the
 * recruiter's chain, so a crash that saved the sub-affiliate's book and not the recruiter's
 * left a redo that skipped the facts (saved) and lost the shares (not saved): the recruiter's
 * next line took a number already used. Each book now keeps its state from before the batch,
 * and a redo starts from it. Here the first save stores the sub-affiliate's book alone and
 * dies; the recruiter's ledger must end as the simulator's.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { ensureTopology } from '../common/nats.js'
import { ledgerLines } from '../query-api/routes/ledger.js'
import { migratedChdb } from '../test/helpers/chdb.js'
import { testConfig } from '../test/helpers/config.js'
import { natsPerFile } from '../test/helpers/nats-hooks.js'
import { runCutStage } from '../test/helpers/stage.js'
import { ScenarioSchema, simulate } from './simulator.js'

const nats = natsPerFile()
const db = migratedChdb('ch-partial')
beforeAll(async () => {
  await ensureTopology(nats.nc, testConfig())
})

const scenario = ScenarioSchema.parse({
  program: { currency: 'USD' },
  affiliates: [{ id: 1 }, { id: 2, parentId: 1 }],
  deals: [
    { id: 'rec', affiliateId: 1, versions: [{ effectiveFrom: '2026-01-01', terms: { currency: 'USD', subAffiliate: { tiers: ['0.1'] } } }] },
    { id: 'cpa', affiliateId: 2, versions: [{ effectiveFrom: '2026-01-01', terms: { currency: 'USD', cpa: { amount: '100', holdDays: 30 } } }] },
  ],
  events: ['p1', 'p2', 'p3'].flatMap((p, i) => [
    { at: `2026-04-0${i + 1}T10:00:00Z`, kind: 'registration', player: p, affiliate: 2 },
    { at: `2026-04-0${i + 1}T11:00:00Z`, kind: 'ftd', player: p, amount: '50', currency: 'USD' },
  ]),
})

describe('an ordinary batch whose save is cut short', () => {
  it('ends as the simulator says', async () => {
    const { nc } = nats
    const sim = simulate(scenario)
    // the first save of several books stores the sub-affiliate's (2), not the recruiter's (1), then dies
    const { stage, cuts, facts } = await runCutStage(nc, db.ch, scenario, {
      consumer: 'partial',
      batchMessages: 1,
      closes: 0,
      cut: { times: 1, when: (entries) => entries.length > 1, keep: (entries) => entries.filter(([a]) => a === '2') },
    })
    expect(cuts).toBe(1)
    expect(stage.stats.facts).toBe(facts)
    for (const aff of [1, 2]) {
      const got = await ledgerLines(db.ch, { affiliateId: aff })
      expect(
        got.map((l) => [l.no, l.id, l.hash]),
        `affiliate ${aff}`,
      ).toEqual(sim.lines.filter((l) => l.affiliateId === aff).map((l) => [l.no, l.id, l.hash]))
    }
  }, 30_000)
})
