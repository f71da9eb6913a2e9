/**
 * The affiliate stage against a real nats-server and chDB, fed a scenario's facts as the player
 * stage sends them, with a store of books whose saves a test can cut short: what the crash
 * tests of the stage share.
 */
import type { NatsConnection } from 'nats'
import type { ClickHouseClient } from '../../clickhouse/client.js'
import { KvBulk } from '../../common/kvbulk.js'
import { createLogger } from '../../common/log.js'
import { openKv } from '../../common/nats.js'
import { accrualSubject, BUCKETS } from '../../common/subjects.js'
import { computeAffiliate, computeClose, type AffiliateTask, type CloseTask } from '../../processor/affiliate-compute.js'
import { AffiliateStage } from '../../processor/affiliate-stage.js'
import { BookStore } from '../../processor/books.js'
import type { Books, ProgramBook } from '../../processor/domain/commission/affiliate.js'
import { referenceData, scenarioFacts, type Scenario } from '../../processor/simulator.js'

type Entries = [string, Books[string]][]

/**
 * Publish the scenario's facts (each in a message: a close alone, as the player stage sends it),
 * then run the stage, computing in process, until it has applied `facts` and `closes` or the
 * time is up. `cut`: the first `times` saves for which `when` holds store only `keep` of their
 * books and fail, as a crash in the middle of a save would leave them.
 */
export async function runCutStage(
  nc: NatsConnection,
  ch: ClickHouseClient,
  scenario: Scenario,
  o: {
    consumer: string
    batchMessages: number
    closes: number
    cut: { times: number; when: (entries: Entries, program?: ProgramBook) => boolean; keep: (entries: Entries) => Entries }
  },
): Promise<{ stage: AffiliateStage; cuts: number; facts: number }> {
  const { facts } = scenarioFacts(scenario)
  const js = nc.jetstream()
  for (const [i, f] of facts.entries()) await js.publish(accrualSubject(0), new TextEncoder().encode(JSON.stringify(f) + '\n'), { msgID: `t:${i}` })
  const store = new BookStore(new KvBulk(nc, BUCKETS.books))
  let cuts = 0
  const books = {
    load: store.load.bind(store),
    loadProgram: store.loadProgram.bind(store),
    async save(b: Books, program?: ProgramBook) {
      const entries = Object.entries(b)
      if (cuts < o.cut.times && o.cut.when(entries, program)) {
        cuts++
        await store.save(Object.fromEntries(o.cut.keep(entries)))
        throw new Error('killed in the middle of saving the books')
      }
      return store.save(b, program)
    },
  } as unknown as BookStore
  const ref = referenceData(scenario)
  const stage = new AffiliateStage({
    nc,
    ch,
    books,
    reference: () => ref,
    affiliates: () => scenario.affiliates.map((a) => a.id),
    pool: { run: async (t: AffiliateTask | CloseTask) => (t.kind === 'close' ? computeClose(t) : computeAffiliate(t)) } as never,
    progressKv: await openKv(nc, BUCKETS.progress),
    log: createLogger('silent'),
    consumer: o.consumer,
    batchMessages: o.batchMessages,
    batchWaitMs: 20,
  })
  const accruals = facts.filter((f) => f.type !== 'close').length
  await stage.start()
  const deadline = Date.now() + 30_000
  while ((stage.stats.facts < accruals || stage.stats.closes < o.closes) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  await stage.stop()
  return { stage, cuts, facts: accruals }
}
