/**
 * The one launcher. With no arguments it runs every tier in this process (embedded mode:
 * a nats-server child and chDB under DATA_DIR, everything on one HTTP port). `--tier`
 * picks tiers for distributed mode (NATS_URL, CLICKHOUSE_URL); `--demo` adds demo data
 * and live demo traffic.
 */
import { HttpError } from './common/errors.js'
import { join } from 'node:path'
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify'
import { createClickHouse, type ClickHouseClient } from './clickhouse/client.js'
import { migrate } from './clickhouse/migrate.js'
import { ConfigError, loadConfig, parseTiers, secretsFile, type Config, type Tier } from './common/config.js'
import { jsonBodyParser } from './common/json.js'
import { createLogger, type Logger } from './common/log.js'
import { LoopDelay } from './common/loopdelay.js'
import { connectNats, ensureTopology, startNatsServer, type EmbeddedNats } from './common/nats.js'
import { errorHandler } from './common/errors.js'
import type { RunningTier } from './common/tier.js'
import { startIngest } from './ingest/tier.js'
import { startNotifier } from './notifier/tier.js'
import { startProcessor } from './processor/tier.js'
import { startQueryApi } from './query-api/tier.js'
import { startDemo } from './scripts/demo-traffic.js'

export type App = {
  url: string
  stop: () => Promise<void>
  cfg: Config
  log: Logger
  /** with --demo: the demo's postback source and links */
  demo?: { source: { id: number; token: string }; links: string[] }
}

export async function launch(argv: string[], env: Record<string, string | undefined> = process.env): Promise<App> {
  const demoOn = argv.includes('--demo')
  // the demo's fraud simulator sends its visitors' addresses in X-Forwarded-For from this machine
  const cfg = loadConfig(demoOn && env.TRUST_PROXY === undefined ? { ...env, TRUST_PROXY: '127.0.0.1/32,::1/128' } : env)
  const log = createLogger(cfg.logLevel, 'amp', cfg.logFormat)
  const tiers: Tier[] = parseTiers(argv)
  if (!cfg.clickhouse.url && tiers.includes('processor') !== tiers.includes('query-api')) {
    throw new ConfigError(
      'CLICKHOUSE_URL is required when the processor and the query-api run in different processes: chDB lives inside one process, so the query-api would read data no processor writes',
    )
  }

  let nats: EmbeddedNats | undefined
  let natsUrl = cfg.nats.url
  if (!natsUrl) {
    nats = await startNatsServer({ storeDir: join(cfg.dataDir, 'nats'), bin: cfg.nats.serverBin, log })
    natsUrl = nats.url
    log.info({ url: natsUrl }, 'embedded nats-server started')
  }
  const nc = await connectNats(natsUrl, `amp:${tiers.join('+')}`, log)
  await ensureTopology(nc, cfg)

  let ch: ClickHouseClient | undefined
  if (tiers.includes('processor') || tiers.includes('query-api')) {
    ch = createClickHouse(cfg)
    const applied = await migrate(ch)
    if (applied.length) log.info({ applied }, 'clickhouse migrations applied')
  }

  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    // fastify takes a hop count too (proxy-addr); its types only name booleans and strings
    trustProxy: cfg.trustProxy as boolean | string,
    bodyLimit: 256 * 1024,
  })
  // JSON numbers keep their exact text (an amount is never rounded through a float).
  app.addContentTypeParser('application/json', { parseAs: 'string' }, jsonBodyParser)
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)))
  })
  app.setErrorHandler(errorHandler)

  // Event-loop delay: what every request on this process waits behind.
  const loopDelay = new LoopDelay().start()
  const running: RunningTier[] = []
  const ingest = tiers.includes('ingest') ? await startIngest(nc, cfg, log) : undefined
  if (ingest) running.push(ingest)
  const processor = tiers.includes('processor') ? await startProcessor(nc, ch!, cfg, log) : undefined
  if (processor) running.push(processor)
  // The notifier runs wherever the processor does (see notifier/tier.ts).
  const notifier = processor ? await startNotifier(nc, ch!, cfg, log) : undefined
  if (notifier) running.push(notifier)
  let demo: Awaited<ReturnType<typeof startDemo>> | undefined
  /** the demo, once it has started (it starts once the server listens) */
  const demoStarted = () => {
    if (!demo) throw new HttpError(503, 'unavailable', 'the demo is starting: try again in a moment')
    return demo
  }
  const status = async () => ({
    tiers,
    nats: nc.stats(),
    eventLoopDelayMs: loopDelay.figures(),
    processor: processor ? { ...processor.processor.stats, lag: await processor.processor.lag() } : undefined,
    affiliateStage: processor ? { ...processor.affiliateStage.stats, lag: await processor.affiliateStage.lag() } : undefined,
    ingest: ingest ? ingest.publisher.stats : undefined,
    live: queryApi ? { clients: queryApi.hub.clients, delivered: queryApi.hub.delivered } : undefined,
  })
  const queryApi = tiers.includes('query-api')
    ? await startQueryApi(nc, ch!, cfg, log, {
        status,
        demo: demoOn ? (o) => demoStarted().burst(o) : undefined,
        demoFraud: demoOn ? () => demoStarted().fraud() : undefined,
      })
    : undefined
  if (queryApi) running.push(queryApi)

  for (const t of running) await t.routes?.(app)
  app.get('/healthz', async () => ({ ok: true }))
  app.get('/readyz', async (_req, reply) => {
    const notReady = running.filter((t) => !t.ready()).map((t) => t.name)
    // Why, where a tier can say: ingest cannot write the event stream (NATS away or refusing).
    const stream = ingest?.publisher.health
    const reasons = stream && !stream.ok ? { ingest: stream.reason } : undefined
    return reply
      .code(notReady.length ? 503 : 200)
      .send({ ready: notReady.length === 0, tiers: running.map((t) => t.name), notReady, ...(reasons ? { reasons } : {}) })
  })

  const address = await app.listen({ port: cfg.port, host: cfg.host })
  const port = app.server.address() && typeof app.server.address() === 'object' ? (app.server.address() as { port: number }).port : cfg.port
  const url = `http://127.0.0.1:${port}`
  log.info({ address, tiers, dataDir: cfg.dataDir }, 'listening')

  if (demoOn && ingest && queryApi) demo = await startDemo(nc, url, cfg, log)

  let stopped: Promise<void> | undefined
  const stop = () =>
    (stopped ??= (async () => {
      log.info('shutting down')
      demo?.stop()
      loopDelay.stop()
      await app.close() // stop accepting; in-flight requests finish (they wait on their publish)
      if (ingest) await ingest.stop() // flush pending publishes
      if (processor) await processor.stop() // finish the batch in hand, ack it
      if (notifier) await notifier.stop() // log the tries in hand, then ack them
      if (queryApi) await queryApi.stop()
      await nc.drain()
      await ch?.close()
      await nats?.stop()
      log.info('stopped')
    })())
  return { url, stop, cfg, log, ...(demo ? { demo: { source: demo.source, links: demo.links } } : {}) }
}

const isMain = import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('launcher.ts')
if (isMain) {
  try {
    const app = await launch(process.argv.slice(2))
    const { cfg } = app
    process.stdout.write(
      `\n  Affiliate platform running: ${app.url.replace('127.0.0.1', 'localhost')}\n` +
        (cfg.embedded ? `  Operator API key: in ${secretsFile(cfg.dataDir)} (operatorApiKey)\n` : '') +
        (app.demo
          ? `  Demo postback source: source=${app.demo.source.id} token=${app.demo.source.token}\n` +
            `    try: curl "${app.url.replace('127.0.0.1', 'localhost')}/postback?source=${app.demo.source.id}&token=${app.demo.source.token}&event=registration&event_id=try-1&player_id=try-1"\n` +
            `  Demo tracking links: ${app.demo.links.map((c) => `${app.url.replace('127.0.0.1', 'localhost')}/c/${c}`).join(' ')}\n`
          : '') +
        `  Ctrl-C stops it gracefully.\n\n`,
    )
    let signals = 0
    const onSignal = () => {
      if (++signals > 1) process.exit(130)
      app.stop().then(
        () => process.exit(0),
        (err) => {
          app.log.error({ err }, 'shutdown failed')
          process.exit(1)
        },
      )
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`)
      process.exit(2)
    }
    throw err
  }
}
