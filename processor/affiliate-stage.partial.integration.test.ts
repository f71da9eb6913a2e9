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
import { KvBulk } from '../common/kvbulk.js'
import { createLogger } from '../common/log.js'
import { ensureTopology, openKv } from '../common/nats.js'
import { accrualSubject, BUCKETS } from '../common/subjects.js'
import { ledgerLines } from '../query-api/routes/ledger.js'
import { migratedChdb } from '../test/helpers/chdb.js'
import { testConfig } from '../test/helpers/config.js'
import { natsPerFile } from '../test/helpers/nats-hooks.js'
import { computeAffiliate, computeClose, type AffiliateTask, type CloseTask } from './affiliate-compute.js'
import { AffiliateStage } from './affiliate-stage.js'
import { BookStore } from './books.js'
import type { Books, ProgramBook } from './domain/commission/affiliate.js'
import { referenceData, ScenarioSchema, scenarioFacts, simulate } from './simulator.js'

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
    const { facts } = scenarioFacts(scenario)
    const js = nc.jetstream()
    for (const [i, f] of facts.entries()) await js.publish(accrualSubject(0), new TextEncoder().encode(JSON.stringify(f) + '\n'), { msgID: `t:${i}` })
    const store = new BookStore(new KvBulk(nc, BUCKETS.books))
    let cut = 0
    const books = {
      load: store.load.bind(store),
      loadProgram: store.loadProgram.bind(store),
      async save(b: Books, program?: ProgramBook) {
        const entries = Object.entries(b)
        // save the child (2) but not the recruiter (1), then die
        if (entries.length > 1 && cut < 1) {
          cut++
          await store.save(Object.fromEntries(entries.filter(([a]) => a === '2')))
          throw new Error('killed in the middle of saving the books')
        }
        return store.save(b, program)
      },
    } as unknown as BookStore
    const ref = referenceData(scenario)
    const stage = new AffiliateStage({
      nc,
      ch: db.ch,
      books,
      reference: () => ref,
      affiliates: () => [1, 2],
      pool: { run: async (t: AffiliateTask | CloseTask) => (t.kind === 'close' ? computeClose(t) : computeAffiliate(t)) } as never,
      progressKv: await openKv(nc, BUCKETS.progress),
      log: createLogger('silent'),
      consumer: 'partial',
      batchMessages: 1,
      batchWaitMs: 20,
    })
    await stage.start()
    const deadline = Date.now() + 15_000
    while (stage.stats.facts < facts.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    await stage.stop()
    expect(cut).toBe(1)
    expect(stage.stats.facts).toBe(facts.length)
    for (const aff of [1, 2]) {
      const got = await ledgerLines(db.ch, { affiliateId: aff })
      expect(got.map((l) => [l.no, l.id, l.hash]), `affiliate ${aff}`).toEqual(sim.lines.filter((l) => l.affiliateId === aff).map((l) => [l.no, l.id, l.hash]))
    }
  }, 30_000)
})
