/**
 * npm run bench — the spine under load on this machine.
 *
 *   0. the ingest tier alone (own process, no processor running) against the same ceiling:
 *      the click path with the cores to itself, as in distributed mode
 *   1+2. ceiling and tracked, in alternating rounds: a bare Fastify 302 redirect (its own
 *      process) and the embedded app's GET /c/:code at full load (redirect + signed click id +
 *      group-committed JetStream publish, with the processor writing ClickHouse alongside),
 *      same load generator. The machine's speed drifts (the ceiling alone moved between 20k
 *      and 41k req/s within minutes here), so the ratio is taken round by round and the
 *      median reported. wrk when installed (Debian package `wrk`, light on CPU), else
 *      autocannon. Each phase is also run paced at 40% of its ceiling (bench/paced.lua: every
 *      connection pauses a random, exponentially distributed time between requests): the
 *      latency a click sees at the load the throughput target names. Flat out, p99 only
 *      measures the generator's own queue (100 connections / throughput).
 *   3. sustained: 60 s of clicks at a fixed rate straight onto the event stream, as a fleet of
 *      ingest nodes would put them (the same Publisher the ingest tier uses): events/s into
 *      ClickHouse, consumer lag every second, and freshness (a click accepted by GET /c/:code
 *      → its delta on /ws) from probe clicks on their own link
 *      then the money mix (BENCH_MONEY, default 0.3 of the events conversions through the
 *      commission engine) offered at 21,000 events/s for the same time (the target is 20,000
 *      into ClickHouse with flat lag; offering exactly 20,000 shows a little less, since the
 *      pipeline's second or so of events in flight is not yet counted when the run ends), and
 *      at half the target, 10,000/s, for 30 s: events/s, lag, ledger lines/s, and a postback
 *      accepted → its commission on /ws; then the money mix again on a fresh app with the fraud
 *      rules off (FRAUD_RULES=off; BENCH_RULES_OFF=0 skips it): every rule on beside none
 *   4. redirect latency at a steady 400 clicks/s on a fresh embedded app, p50/p99, with its
 *      event-loop delay from /api/status (bench/redirect-latency.ts; alone:
 *      node --import tsx bench/redirect-latency.ts [seconds])
 *   5. a period close of 10,000 affiliates and 1,000,000 players with a realistic deal mix
 *      (bench/close.ts; `close_s`, target under 60 s; BENCH_CLOSE=0 skips it; alone:
 *      node --import tsx bench/close.ts [affiliates] [players])
 *
 * The last line of output is one JSON object with the figures.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { rmSync } from 'node:fs'
import { cpus } from 'node:os'
import { connect } from 'nats'
import { loadConfig } from '../common/config.js'
import { EntityStore } from '../common/entities.js'
import { ensureTopology, freePort } from '../common/nats.js'
import { api, spawnApp, waitFor } from '../test/helpers/app.js'
import { tempDir, TEST_SECRETS } from '../test/helpers/config.js'
import { startTestNats } from '../test/helpers/nats.js'
import { CONNECTIONS, hasWrk, load, median, type Load } from './load.js'
import { redirectLatency } from './redirect-latency.js'
import { closeBench } from './close.js'
import { sustained } from './sustained.js'

const DURATION = Number(process.env.BENCH_DURATION_S ?? 10)
const SUSTAIN = Number(process.env.BENCH_SUSTAIN_S ?? 60)
const RATE = Number(process.env.BENCH_RATE ?? 22_000)
/** the money mix's target: 20,000 events/s with 30% conversions, offered a little above it */
const MONEY_TARGET = 20_000
const MONEY_RATE = Number(process.env.BENCH_MONEY_RATE ?? 21_000)
const say = (s: string) => process.stderr.write(`${s}\n`)

say(`load generator: ${hasWrk ? 'wrk' : 'autocannon (install Debian package wrk for a lighter one)'}, ${CONNECTIONS} connections`)

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const LATENCY_S = Number(process.env.BENCH_LATENCY_S ?? 20)

// The bare redirect, and the app: all tiers in one process with chDB; NATS is the bench's
// own so step 3 can publish onto the stream as remote ingest nodes would.
const barePort = await freePort()
const bare = spawn(process.execPath, ['--import', 'tsx', 'bench/bare-redirect.ts', String(barePort)], { stdio: ['ignore', 'pipe', 'inherit'] })
await once(bare.stdout!, 'data')
const bareUrl = `http://127.0.0.1:${barePort}/c/x`
const nats = await startTestNats()

// 0. The ingest tier alone (its own process, no processor anywhere yet), against the same
//    ceiling: what the click path costs when it has the cores to itself, as in distributed
//    mode. Its clicks wait on the stream and are processed when the app starts.
const nc0 = await connect({ servers: nats.url })
await ensureTopology(nc0, loadConfig({ NATS_URL: nats.url, DATA_DIR: tempDir('cfg'), ...TEST_SECRETS }))
const store = await EntityStore.open(nc0)
const alone = await store.affiliates.create({ name: 'ingest alone' }, Date.now())
const aloneLink = await store.links.create({ affiliateId: alone.id, destination: 'https://brand.example/land?cid={click_id}&s1={sub1}' }, Date.now())
await nc0.close()
const ingestAlone = await spawnApp({
  nodeArgs: ['--max-semi-space-size=32'],
  env: { DATA_DIR: tempDir('ingest'), NATS_URL: nats.url, ...TEST_SECRETS, LOG_LEVEL: 'warn' },
  args: ['--tier', 'ingest'],
})
const aloneUrl = `${ingestAlone.url}/c/${aloneLink.code}?sub1=bench&utm_source=load`
await load(bareUrl, 2)
await load(aloneUrl, 2)
const aloneRounds: { ceiling: Load; tracked: Load }[] = []
for (let i = 0; i < ROUNDS; i++) {
  const ceiling = await load(bareUrl, DURATION)
  const tracked = await load(aloneUrl, DURATION)
  aloneRounds.push({ ceiling, tracked })
  say(
    `ingest alone, round ${i + 1}  ceiling ${ceiling.rps.toFixed(0)} req/s | ingest tier ${tracked.rps.toFixed(0)} req/s, p50 ${tracked.p50} ms, p99 ${tracked.p99} ms | ratio ${(tracked.rps / ceiling.rps).toFixed(3)}`,
  )
}
// The same at the target load (40% of this phase's ceiling), paced instead of flat out.
const aloneRate = Math.round(0.4 * median(aloneRounds.map((r) => r.ceiling.rps)))
const alonePaced: Load[] = []
for (let i = 0; i < ROUNDS; i++) {
  alonePaced.push(await load(aloneUrl, DURATION, aloneRate))
  say(
    `ingest alone, paced at ${aloneRate}/s, round ${i + 1}  ${alonePaced[i]!.rps.toFixed(0)} req/s, p50 ${alonePaced[i]!.p50} ms, p99 ${alonePaced[i]!.p99} ms`,
  )
}
await ingestAlone.stop()
const aloneRatio = median(aloneRounds.map((r) => r.tracked.rps / r.ceiling.rps))
const aloneP99 = median(aloneRounds.map((r) => r.tracked.p99))
const aloneRps = median(aloneRounds.map((r) => r.tracked.rps))

const dataDir = tempDir('bench')
const app = await spawnApp({
  nodeArgs: ['--max-semi-space-size=32'],
  // every fraud rule on, at DOMAIN's defaults
  env: { DATA_DIR: dataDir, NATS_URL: nats.url, ...TEST_SECRETS, LOG_LEVEL: 'warn', FRAUD_SETTINGS: '{}' },
})
const call = api(app.url, TEST_SECRETS.OPERATOR_API_KEY)
const aff = (await call('POST', '/api/affiliates', { name: 'bench' })).body
const link = (await call('POST', '/api/links', { affiliateId: aff.id, destination: 'https://brand.example/land?cid={click_id}&s1={sub1}' })).body
await call('POST', '/api/deals/cpa', { affiliateId: aff.id, amount: '10', currency: 'EUR' })
await new Promise((r) => setTimeout(r, 300))
const status = async () => (await call('GET', '/api/status')).body
const clickUrl = `${app.url}/c/${link.code}?sub1=bench&utm_source=load`

// 1+2. alternating rounds, embedded app (the ingest-alone clicks processed first)
await waitFor(
  'drain',
  async () => (await status()).processor.lag,
  (l: number) => l === 0,
  300_000,
)
await load(bareUrl, 2)
await load(clickUrl, 2)
const rounds: { ceiling: Load; tracked: Load; httpEps: number }[] = []
for (let i = 0; i < ROUNDS; i++) {
  const ceiling = await load(bareUrl, DURATION)
  const before = (await status()).processor.events
  const tracked = await load(clickUrl, DURATION)
  const httpEps = ((await status()).processor.events - before) / DURATION
  rounds.push({ ceiling, tracked, httpEps })
  say(
    `round ${i + 1}  ceiling ${ceiling.rps.toFixed(0)} req/s (p99 ${ceiling.p99} ms) | tracked ${tracked.rps.toFixed(0)} req/s, p50 ${tracked.p50} ms, p99 ${tracked.p99} ms | ratio ${(tracked.rps / ceiling.rps).toFixed(3)} | processor ${httpEps.toFixed(0)} events/s`,
  )
  await waitFor(
    'drain',
    async () => (await status()).processor.lag,
    (l: number) => l === 0,
    120_000,
  )
}
const ratio = median(rounds.map((r) => r.tracked.rps / r.ceiling.rps))
const ceilingRps = median(rounds.map((r) => r.ceiling.rps))
const trackedRps = median(rounds.map((r) => r.tracked.rps))
const p50 = median(rounds.map((r) => r.tracked.p50))
const p99 = median(rounds.map((r) => r.tracked.p99))
const httpEps = median(rounds.map((r) => r.httpEps))
say(`median    ceiling ${ceilingRps.toFixed(0)} req/s, tracked ${trackedRps.toFixed(0)} req/s, ratio ${ratio.toFixed(3)}, tracked p50 ${p50} ms, p99 ${p99} ms`)

// 2b. Latency at the target load: requests paced at 40% of the ceiling (what the throughput
//     target asks the tracked path to carry), bare and tracked alternating. Flat out, latency
//     only measures the load generator's queue (100 connections / throughput).
const pacedRate = Math.round(0.4 * ceilingRps)
const pacedRounds: { bare: Load; tracked: Load }[] = []
for (let i = 0; i < ROUNDS; i++) {
  const bareLoad = await load(bareUrl, DURATION, pacedRate)
  const tracked = await load(clickUrl, DURATION, pacedRate)
  pacedRounds.push({ bare: bareLoad, tracked })
  say(
    `paced at ${pacedRate}/s, round ${i + 1}  ceiling app ${bareLoad.rps.toFixed(0)} req/s, p50 ${bareLoad.p50} ms, p99 ${bareLoad.p99} ms | tracked ${tracked.rps.toFixed(0)} req/s, p50 ${tracked.p50} ms, p99 ${tracked.p99} ms`,
  )
  await waitFor(
    'drain',
    async () => (await status()).processor.lag,
    (l: number) => l === 0,
    120_000,
  )
}
const pacedRps = median(pacedRounds.map((r) => r.tracked.rps))
const pacedP50 = median(pacedRounds.map((r) => r.tracked.p50))
const pacedP99 = median(pacedRounds.map((r) => r.tracked.p99))
const pacedBareP99 = median(pacedRounds.map((r) => r.bare.p99))
say(
  `median    paced at ${pacedRate}/s: tracked ${pacedRps.toFixed(0)} req/s, p50 ${pacedP50} ms, p99 ${pacedP99} ms (the bare redirect at the same rate: p99 ${pacedBareP99} ms)`,
)

bare.kill('SIGTERM')

// 3. sustained, onto the stream of the same app (each phase with its CPU per event from /proc):
//    clicks only, then the money mix (a share of conversions through the commission engine)
//    offered at MONEY_RATE, then at half its target
const phase = (rate: number, seconds: number, money?: number) =>
  sustained({ url: app.url, natsUrl: nats.url, pids: { app: app.proc.pid, nats: nats.child.pid }, rate, seconds, say, ...(money ? { money } : {}) })
const sus = await phase(RATE, SUSTAIN)
const MONEY = Number(process.env.BENCH_MONEY ?? 0.3)
const money = MONEY > 0 ? await phase(MONEY_RATE, SUSTAIN, MONEY) : undefined
const moneyHalf = MONEY > 0 ? await phase(MONEY_TARGET / 2, Math.min(SUSTAIN, 30), MONEY) : undefined
await app.stop()
await nats.stop()
rmSync(dataDir, { recursive: true, force: true })

// 3b. the money mix again with the fraud rules off (FRAUD_RULES=off), on a fresh app and stream: what the rules cost
let rulesOff: Awaited<ReturnType<typeof sustained>> | undefined
if (MONEY > 0 && process.env.BENCH_RULES_OFF !== '0') {
  const offNats = await startTestNats()
  const offDir = tempDir('bench-rules-off')
  const off = await spawnApp({
    nodeArgs: ['--max-semi-space-size=32'],
    env: { DATA_DIR: offDir, NATS_URL: offNats.url, ...TEST_SECRETS, LOG_LEVEL: 'warn', FRAUD_RULES: 'off' },
  })
  say('the money mix with the fraud rules off:')
  rulesOff = await sustained({
    url: off.url,
    natsUrl: offNats.url,
    pids: { app: off.proc.pid, nats: offNats.child.pid },
    rate: MONEY_RATE,
    seconds: SUSTAIN,
    say,
    money: MONEY,
  })
  await off.stop()
  await offNats.stop()
  rmSync(offDir, { recursive: true, force: true })
}

// 4. the redirect at a steady 400 clicks/s, on a fresh app with the machine to itself
const redirect400 = await redirectLatency({ rate: 400, durationS: LATENCY_S, say })

// 5. a period close of 10,000 affiliates and 1,000,000 players (bench/close.ts), on its own
const close = process.env.BENCH_CLOSE === '0' ? undefined : await closeBench({ say })

process.stdout.write(
  `${JSON.stringify({
    tracked_rps: Math.round(trackedRps),
    ceiling_rps: Math.round(ceilingRps),
    ratio: Number(ratio.toFixed(3)),
    p50_ms: p50,
    p99_ms: p99,
    rounds: rounds.map((r) => Number((r.tracked.rps / r.ceiling.rps).toFixed(3))),
    ingest_alone_rps: Math.round(aloneRps),
    ingest_alone_ratio: Number(aloneRatio.toFixed(3)),
    ingest_alone_p99_ms: aloneP99,
    paced_rate: pacedRate,
    paced_rps: Math.round(pacedRps),
    paced_p50_ms: pacedP50,
    paced_p99_ms: pacedP99,
    paced_bare_p99_ms: pacedBareP99,
    ingest_alone_paced_rate: aloneRate,
    ingest_alone_paced_p99_ms: median(alonePaced.map((r) => r.p99)),
    http_e2e_eps: Math.round(httpEps),
    ...sus,
    ...(money && moneyHalf
      ? {
          money: {
            share: MONEY,
            rate: MONEY_RATE,
            e2e_eps: money.e2e_eps,
            steady_eps: money.steady_eps,
            // every fraud rule on (the figures above) beside the same mix with the rules off
            rules_off_e2e_eps: rulesOff?.e2e_eps ?? null,
            rules_off_lag_max_last_third: rulesOff?.lag_max_last_third ?? null,
            rules_off_cpu_us_per_event: rulesOff?.cpu_us_per_event ?? null,
            lag_max_first_third: money.lag_max_first_third,
            lag_max_last_third: money.lag_max_last_third,
            ledger_lines_per_s: money.ledger_lines_per_s,
            cpu_us_per_event: money.cpu_us_per_event,
            earnings_freshness_p99_ms: money.earnings_freshness_p99_ms,
            half_rate: MONEY_TARGET / 2,
            half_e2e_eps: moneyHalf.e2e_eps,
            half_lag_max_last_third: moneyHalf.lag_max_last_third,
            half_earnings_freshness_p50_ms: moneyHalf.earnings_freshness_p50_ms,
            half_earnings_freshness_p99_ms: moneyHalf.earnings_freshness_p99_ms,
          },
        }
      : {}),
    redirect_400: redirect400,
    ...(close ? { close_s: close.close_s, close } : {}),
    load_generator: hasWrk ? 'wrk' : 'autocannon',
    machine: `${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown cpu'}`,
    date: new Date().toISOString().slice(0, 10),
  })}\n`,
)
process.exit(0)
