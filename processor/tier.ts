/**
 * The processor tier: a durable pull consumer feeding batches to piscina workers, results
 * into ClickHouse, live deltas onto NATS.
 */
import { KeySets } from './fraud-keys.js'
import { Piscina } from 'piscina'
import { KvBulk } from '../common/kvbulk.js'
import type { NatsConnection } from 'nats'
import type { ClickHouseClient } from '../clickhouse/client.js'
import type { Config } from '../common/config.js'
import { EntityStore } from '../common/entities.js'
import type { Logger } from '../common/log.js'
import { openKv } from '../common/nats.js'
import { BUCKETS } from '../common/subjects.js'
import type { RunningTier } from '../common/tier.js'
import { Processor } from './consumer.js'
import { PlayerStore } from './state.js'
import { AffiliateStage } from './affiliate-stage.js'
import { BookStore } from './books.js'
import { serveSimulations } from './simulate-service.js'
import { referenceData } from './affiliate-compute.js'
import type { WorkerInit } from './worker.js'

/** Run from TypeScript sources (tsx) or from compiled JavaScript alike. */
export function createPool(init: WorkerInit, threads: number): Piscina {
  const fromTs = import.meta.url.endsWith('.ts')
  return new Piscina({
    filename: new URL(fromTs ? './worker.ts' : './worker.js', import.meta.url).href,
    workerData: init,
    minThreads: threads,
    maxThreads: threads,
    execArgv: fromTs ? ['--import', 'tsx'] : [],
    // A batch keeps thousands of rows alive until it is joined: with V8's default young
    // generation they are copied by scavenges over and over (measured: GC was 40-60% of
    // the step, 10 µs a click; with 32 MB semi-spaces, 4 µs).
    resourceLimits: { maxYoungGenerationSizeMb: 96 },
  })
}

export async function startProcessor(
  nc: NatsConnection,
  ch: ClickHouseClient,
  cfg: Config,
  log: Logger,
): Promise<RunningTier & { processor: Processor; affiliateStage: AffiliateStage }> {
  const pool = createPool(
    {
      clickSecret: cfg.secrets.clickSecret,
      pseudonymSecret: cfg.secrets.pseudonymSecret,
      windowMs: cfg.processor.attributionWindowDays * 86_400_000,
      ipStorage: cfg.processor.ipStorage,
    },
    cfg.processor.threads,
  )
  // Deals, postback endpoints and offers kept live in memory, loaded before the tier reports ready.
  const store = await EntityStore.open(nc, (err, key) => log.error({ err, key }, 'unreadable entity in KV, ignored'))
  const [deals, endpoints, offers, affiliates] = [store.deals.view, store.endpoints.view, store.offers.view, store.affiliates.view]
  const processor = new Processor({
    nc,
    ch,
    pool,
    players: new PlayerStore(new KvBulk(nc, BUCKETS.players)),
    deals,
    endpoints,
    offers,
    affiliates,
    fx: store.fx.view,
    fraud: store.fraud.view,
    fraudBase: cfg.processor.fraudSettings,
    fraudRules: cfg.processor.fraudRules,
    keySets: new KeySets(await openKv(nc, BUCKETS.fraudKeys)),
    accrualPartitions: cfg.stream.partitions,
    conversionLanes: cfg.processor.threads,
    progressKv: await openKv(nc, BUCKETS.progress),
    log,
    // One consumer over every partition for now; distributed mode gives each process a
    // partition range with its own durable consumer and filter.
    consumer: 'processor-all',
    filterSubject: 'ev.>',
    batchMessages: cfg.processor.batchMessages,
    batchBytes: cfg.processor.batchBytes,
    batchWaitMs: cfg.processor.batchWaitMs,
    ackWaitS: cfg.processor.ackWaitS,
  })
  await processor.start()
  // The affiliate stage: one over every affiliate partition for now (see processor/affiliate-stage.ts).
  const affiliateStage = new AffiliateStage({
    nc,
    ch,
    books: new BookStore(new KvBulk(nc, BUCKETS.books)),
    reference: () => referenceData(deals.map.values(), store.fx.view.map.values(), affiliates.map.values()),
    affiliates: () => [...affiliates.map.values()].map((a) => a.id),
    pool,
    progressKv: await openKv(nc, BUCKETS.progress),
    log,
    consumer: 'affiliate-all',
    batchMessages: 256,
    batchWaitMs: cfg.processor.batchWaitMs,
  })
  await affiliateStage.start()
  const simulations = serveSimulations(nc, log)
  let stopping = false
  return {
    name: 'processor',
    processor,
    affiliateStage,
    ready: () => !stopping && !nc.isClosed(),
    async stop() {
      stopping = true
      simulations.unsubscribe()
      await processor.stop()
      await affiliateStage.stop()
      store.stop()
      await pool.destroy()
      log.info({ applied: processor.applied, events: processor.stats.events }, 'processor stopped')
    },
  }
}
