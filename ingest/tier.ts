/**
 * The ingest tier: tracked clicks and postbacks in, group-committed onto the event stream.
 */
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { NatsConnection } from 'nats'
import { ClickIdSigner } from '../common/clickid.js'
import type { Config } from '../common/config.js'
import { EntityStore } from '../common/entities.js'
import type { Logger } from '../common/log.js'
import { openKv } from '../common/nats.js'
import { BUCKETS } from '../common/subjects.js'
import type { RunningTier } from '../common/tier.js'
import { clickRoutes } from './clicks.js'
import { FloodGuard } from './flood.js'
import { postbackRoutes } from './postbacks.js'
import { Publisher } from './publisher.js'
import { Spool } from './spool.js'

export async function startIngest(nc: NatsConnection, cfg: Config, log: Logger): Promise<RunningTier & { publisher: Publisher }> {
  const store = await EntityStore.open(nc, (err, key) => log.error({ err, key }, 'unreadable entity in KV, ignored'))
  const [links, sources, offers] = [store.links.view, store.sources.view, store.offers.view]
  const idempotency = await openKv(nc, BUCKETS.postbacks)
  // Clicks JetStream cannot store during an outage wait here, on this node's disk.
  const spool = await Spool.open(join(cfg.dataDir, 'spool'), { log })
  const publisher = new Publisher(nc, {
    spool,
    partitions: cfg.stream.partitions,
    maxBatchEvents: cfg.ingest.maxBatchEvents,
    maxInflight: cfg.ingest.maxInflight,
    clickAckTimeoutMs: cfg.ingest.clickAckTimeoutMs,
    log,
  })
  let stopping = false
  return {
    name: 'ingest',
    publisher,
    routes(app: FastifyInstance) {
      clickRoutes(app, {
        links,
        offers,
        signer: new ClickIdSigner(cfg.secrets.clickSecret),
        publisher,
        ack: cfg.ingest.clickAck,
        cookie: cfg.ingest.cookie,
        flood: cfg.ingest.clickFlood.limit > 0 ? new FloodGuard(cfg.ingest.clickFlood.limit, cfg.ingest.clickFlood.windowMs) : undefined,
      })
      postbackRoutes(app, { sources, idempotency, publisher, rate: cfg.ingest.postbackRate })
    },
    ready: () => !stopping && !nc.isClosed() && publisher.health.ok,
    async stop() {
      stopping = true
      await publisher.drain()
      store.stop()
      log.info({ published: publisher.stats.published }, 'ingest drained')
    },
  }
}
