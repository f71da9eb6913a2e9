/**
 * The query-api tier: REST reports and admin, the live WebSocket, and the built dashboard.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import fastifyHelmet, { type FastifyHelmetOptions } from '@fastify/helmet'
import fastifyStatic from '@fastify/static'
import fastifyWebsocket from '@fastify/websocket'
import type { FastifyInstance } from 'fastify'
import type { NatsConnection } from 'nats'
import type { ClickHouseClient } from '../clickhouse/client.js'
import type { Config } from '../common/config.js'
import { EntityStore } from '../common/entities.js'
import { pseudonymizer } from '../common/pseudonym.js'
import { openKv } from '../common/nats.js'
import { BUCKETS, SIMULATE_SUBJECT } from '../common/subjects.js'
import type { Logger } from '../common/log.js'
import type { RunningTier } from '../common/tier.js'
import { Auth } from './auth.js'
import { LiveHub } from './live.js'
import { watermarks } from './reports.js'
import { apiApp, type ApiDeps } from './app.js'

/**
 * The dashboard is one script and one stylesheet from its own origin, talking to /api and
 * /ws there: nothing inline, nothing from elsewhere, never framed (clickjacking).
 * No upgrade-insecure-requests: a self-hosted install may serve plain http on a LAN.
 */
export const SECURITY_HEADERS: FastifyHelmetOptions = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", 'data:'],
      fontSrc: ["'self'"],
      connectSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
  },
  frameguard: { action: 'deny' },
}

const DASHBOARD = fileURLToPath(new URL('../dashboard/dist/', import.meta.url))

export async function startQueryApi(
  nc: NatsConnection,
  ch: ClickHouseClient,
  cfg: Config,
  log: Logger,
  extra: { status: ApiDeps['status']; demo?: ApiDeps['demo']; demoFraud?: ApiDeps['demoFraud'] },
): Promise<RunningTier & { hub: LiveHub }> {
  // Every entity kept live in memory: lists and gets read no KV, and a suspension closes the portal at once.
  const store = await EntityStore.open(nc, (err, key) => log.error({ err, key }, 'unreadable entity in KV, ignored'))
  const auth = new Auth(cfg.secrets.operatorApiKey, cfg.secrets.tokenSecret, (id) => store.affiliates.get(id)?.status === 'suspended')
  const hub = new LiveHub(auth, log)
  hub.start(nc, await watermarks(ch))
  const js = nc.jetstream()
  let stopping = false
  return {
    name: 'query-api',
    hub,
    async routes(app: FastifyInstance) {
      const players = await openKv(nc, BUCKETS.players)
      const books = await openKv(nc, BUCKETS.books)
      const payoutClaims = await openKv(nc, BUCKETS.payouts)
      const appeals = await openKv(nc, BUCKETS.appeals)
      // The query-api's own context: its security headers, hooks, validator and document
      // cover the dashboard, /api and /ws; the click path (/c/:code, /t.js, /postback,
      // registered by ingest at the root) keeps its own headers and cost.
      await app.register(async (qa) => {
        await qa.register(fastifyHelmet, SECURITY_HEADERS)
        // The websocket plugin hooks every request of the context it is registered in: its own.
        await qa.register(async (ws) => {
          await ws.register(fastifyWebsocket, { options: { maxPayload: 64 * 1024 } })
          ws.get('/ws', { websocket: true }, (socket) => hub.accept(socket))
        })
        await qa.register(apiApp, {
          store,
          ch,
          auth,
          ...extra,
          partitions: cfg.stream.partitions,
          allowPrivateEndpoints: cfg.outbound.allowPrivate,
          rateLimit: cfg.api.rateLimit,
          invoices: { programName: cfg.api.programName, chromium: cfg.api.chromium, payer: cfg.api.payer },
          players,
          books,
          payoutClaims,
          appeals,
          fraudBase: cfg.processor.fraudSettings,
          pseudonym: pseudonymizer(cfg.secrets.pseudonymSecret),
          publish: async (subject, data, msgId) => (await js.publish(subject, data, { msgID: msgId })).seq,
          simulate: async (scenario) => {
            const r = await nc.request(SIMULATE_SUBJECT, new TextEncoder().encode(JSON.stringify(scenario)), { timeout: 30_000 })
            return JSON.parse(new TextDecoder().decode(r.data)) as unknown
          },
        })
        if (existsSync(DASHBOARD)) {
          await qa.register(fastifyStatic, { root: DASHBOARD, prefix: '/', wildcard: false, index: 'index.html' })
        } else {
          qa.get('/', async (_req, reply) => reply.type('text/plain').send('The dashboard is not built: run `npm run build`.\n'))
        }
      })
    },
    ready: () => !stopping && !nc.isClosed(),
    async stop() {
      stopping = true
      hub.stop()
      store.stop()
    },
  }
}
