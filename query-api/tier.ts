/**
 * The query-api tier: REST reports and admin, the live WebSocket, and the built dashboard.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import fastifyWebsocket from '@fastify/websocket'
import type { FastifyInstance } from 'fastify'
import type { NatsConnection } from 'nats'
import type { ClickHouseClient } from '../clickhouse/client.js'
import type { Config } from '../common/config.js'
import { AffiliateSchema, EntityStore, WatchedBucket } from '../common/entities.js'
import { pseudonymizer } from '../common/pseudonym.js'
import { openKv } from '../common/nats.js'
import { BUCKETS } from '../common/subjects.js'
import type { Logger } from '../common/log.js'
import type { RunningTier } from '../common/tier.js'
import { Auth } from './auth.js'
import { LiveHub } from './live.js'
import { watermarks } from './reports.js'
import { apiApp, type ApiDeps } from './app.js'

const DASHBOARD = fileURLToPath(new URL('../dashboard/dist/', import.meta.url))

export async function startQueryApi(
  nc: NatsConnection,
  ch: ClickHouseClient,
  cfg: Config,
  log: Logger,
  extra: { status: ApiDeps['status']; demo?: ApiDeps['demo'] },
): Promise<RunningTier & { hub: LiveHub }> {
  const store = await EntityStore.open(nc)
  // Affiliates kept live in memory: a suspension closes the portal at once, with no lookup per request.
  const affiliates = new WatchedBucket(store.affiliates, AffiliateSchema, (err, key) => log.error({ err, key }, 'unreadable affiliate in KV, ignored'), 'a.*')
  await affiliates.ready
  const auth = new Auth(cfg.secrets.operatorApiKey, cfg.secrets.tokenSecret, (id) => affiliates.map.get(`a.${id}`)?.status === 'suspended')
  const hub = new LiveHub(auth, log)
  hub.start(nc, await watermarks(ch))
  const js = nc.jetstream()
  let stopping = false
  return {
    name: 'query-api',
    hub,
    async routes(app: FastifyInstance) {
      // In its own encapsulated context: the websocket plugin hooks every request of the
      // context it is registered in, and the click path must not pay for that.
      await app.register(async (ws) => {
        await ws.register(fastifyWebsocket, { options: { maxPayload: 64 * 1024 } })
        ws.get('/ws', { websocket: true }, (socket) => hub.accept(socket))
      })
      const players = await openKv(nc, BUCKETS.players)
      // Encapsulated: the API's hooks, validator and document cover /api only, never the click path.
      await app.register(apiApp, {
        store,
        ch,
        auth,
        ...extra,
        partitions: cfg.stream.partitions,
        allowPrivateEndpoints: cfg.outbound.allowPrivate,
        players,
        pseudonym: pseudonymizer(cfg.secrets.pseudonymSecret),
        publish: async (subject, data, msgId) => (await js.publish(subject, data, { msgID: msgId })).seq,
      })
      if (existsSync(DASHBOARD)) {
        await app.register(fastifyStatic, { root: DASHBOARD, prefix: '/', wildcard: false, index: 'index.html' })
      } else {
        app.get('/', async (_req, reply) => reply.type('text/plain').send('The dashboard is not built: run `npm run build`.\n'))
      }
    },
    ready: () => !stopping && !nc.isClosed(),
    async stop() {
      stopping = true
      hub.stop()
      affiliates.stop()
    },
  }
}
