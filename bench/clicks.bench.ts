/**
 * npm run bench — the spine under load on this machine.
 *
 *   1. ceiling: a bare Fastify 302 redirect (its own process), driven by autocannon
 *   2. tracked: the embedded app's GET /c/:code at full load (redirect + signed click id +
 *      group-committed JetStream publish), same load generator, same run
 *   3. sustained: clicks at a fixed rate for 60 s; events/s into ClickHouse, consumer lag
 *      sampled every second, and freshness (a click accepted → its delta on /ws) measured
 *      with probe clicks on their own link
 *
 * The last line of output is one JSON object with the figures.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { cpus } from 'node:os'
import { rmSync } from 'node:fs'
import autocannon from 'autocannon'
import WebSocket from 'ws'
import { freePort } from '../common/nats.js'
import { api, spawnApp, waitFor } from '../test/helpers/app.js'
import { tempDir, TEST_SECRETS } from '../test/helpers/config.js'

const DURATION = Number(process.env.BENCH_DURATION_S ?? 10)
const SUSTAIN = Number(process.env.BENCH_SUSTAIN_S ?? 60)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 100)

function say(s: string) {
  process.stderr.write(`${s}\n`)
}

async function load(url: string, opts: { duration: number; rate?: number; connections?: number }) {
  const r = await autocannon({ url, connections: opts.connections ?? CONNECTIONS, duration: opts.duration, ...(opts.rate ? { overallRate: opts.rate } : {}) })
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, total: r.requests.total, status3xx: r['3xx'] ?? 0 }
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN
}

// 1. ceiling
const barePort = await freePort()
const bare = spawn(process.execPath, ['--import', 'tsx', 'bench/bare-redirect.ts', String(barePort)], { stdio: ['ignore', 'pipe', 'inherit'] })
await once(bare.stdout!, 'data')
await load(`http://127.0.0.1:${barePort}/c/x`, { duration: 2 }) // warm-up
const ceiling = await load(`http://127.0.0.1:${barePort}/c/x`, { duration: DURATION })
bare.kill('SIGTERM')
say(`ceiling  bare Fastify redirect: ${ceiling.rps.toFixed(0)} req/s, p50 ${ceiling.p50} ms, p99 ${ceiling.p99} ms`)

// 2. tracked
const dataDir = tempDir('bench')
const app = await spawnApp({ env: { DATA_DIR: dataDir, OPERATOR_API_KEY: TEST_SECRETS.OPERATOR_API_KEY, LOG_LEVEL: 'warn' } })
const call = api(app.url, TEST_SECRETS.OPERATOR_API_KEY)
const aff = (await call('POST', '/api/affiliates', { name: 'bench' })).body
const link = (await call('POST', '/api/links', { affiliateId: aff.id, destination: 'https://brand.example/land?cid={click_id}&s1={sub1}' })).body
await call('POST', '/api/deals/cpa', { affiliateId: aff.id, amount: '10', currency: 'EUR' })
const probeAff = (await call('POST', '/api/affiliates', { name: 'probe' })).body
const probe = (await call('POST', '/api/links', { affiliateId: probeAff.id, destination: 'https://brand.example/p?cid={click_id}' })).body
await new Promise((r) => setTimeout(r, 300))
const clickUrl = `${app.url}/c/${link.code}?sub1=bench&utm_source=load`
await load(clickUrl, { duration: 2 })
const tracked = await load(clickUrl, { duration: DURATION })
say(
  `tracked  GET /c/:code:           ${tracked.rps.toFixed(0)} req/s, p50 ${tracked.p50} ms, p99 ${tracked.p99} ms (${((tracked.rps / ceiling.rps) * 100).toFixed(1)}% of ceiling)`,
)
const status = async () => (await call('GET', '/api/status')).body
await waitFor(
  'drain after full load',
  async () => (await status()).processor.lag,
  (l: number) => l === 0,
  120_000,
)

// 3. sustained rate, lag, freshness
const rate = Number(process.env.BENCH_RATE ?? Math.min(22_000, Math.floor(tracked.rps * 0.85)))
const ws = new WebSocket(`${app.url.replace('http', 'ws')}/ws`)
await once(ws, 'open')
ws.send(JSON.stringify({ type: 'auth', token: TEST_SECRETS.OPERATOR_API_KEY }))
let probeWaiter: (() => void) | undefined
ws.on('message', (m) => {
  const d = JSON.parse(String(m))
  if (d.type === 'delta' && d.rows.some((r: { affiliateId: number; clicks: number }) => r.affiliateId === probeAff.id && r.clicks > 0)) probeWaiter?.()
})
const fresh: number[] = []
let probing = true
const prober = (async () => {
  while (probing) {
    const seen = new Promise<void>((r) => (probeWaiter = r))
    const res = await fetch(`${app.url}/c/${probe.code}`, { redirect: 'manual' })
    const accepted = performance.now()
    if (res.status !== 302) throw new Error(`probe ${res.status}`)
    await Promise.race([seen, new Promise((r) => setTimeout(r, 5000))])
    fresh.push(performance.now() - accepted)
    await new Promise((r) => setTimeout(r, 200))
  }
})()
const before = await status()
const lags: number[] = []
const sampler = setInterval(() => void status().then((s) => lags.push(s.processor.lag)), 1000)
const t0 = performance.now()
const sustained = await load(clickUrl, { duration: SUSTAIN, rate })
const sentEnd = performance.now()
clearInterval(sampler)
probing = false
await prober
const after = await status()
const processedDuring = after.processor.events - before.processor.events
const e2eEps = processedDuring / ((sentEnd - t0) / 1000)
await waitFor(
  'final drain',
  async () => (await status()).processor.lag,
  (l: number) => l === 0,
  120_000,
)
const drained = await status()
const rec = (await call('GET', '/api/reports/reconcile')).body
ws.close()
await app.stop()
rmSync(dataDir, { recursive: true, force: true })

const third = Math.floor(lags.length / 3)
const lagFirstThird = Math.max(...lags.slice(0, third))
const lagLastThird = Math.max(...lags.slice(-third))
say(
  `sustained ${rate}/s for ${SUSTAIN} s: sent ${sustained.total}, processed ${processedDuring} during the run (${e2eEps.toFixed(0)} events/s into ClickHouse)`,
)
say(`          consumer lag (messages): max first third ${lagFirstThird}, max last third ${lagLastThird}, samples ${lags.join(',')}`)
say(`          freshness click accepted → delta on /ws: p50 ${pct(fresh, 50).toFixed(0)} ms, p99 ${pct(fresh, 99).toFixed(0)} ms over ${fresh.length} probes`)
say(`          ClickHouse holds ${rec.raw.clicks} clicks; processor handled ${drained.processor.events} events in total`)

const figures = {
  tracked_rps: Math.round(tracked.rps),
  ceiling_rps: Math.round(ceiling.rps),
  ratio: Number((tracked.rps / ceiling.rps).toFixed(3)),
  p50_ms: tracked.p50,
  p99_ms: tracked.p99,
  e2e_eps: Math.round(e2eEps),
  sustained_rate: rate,
  sustained_s: SUSTAIN,
  sustained_p99_ms: sustained.p99,
  lag_max_first_third: lagFirstThird,
  lag_max_last_third: lagLastThird,
  freshness_p50_ms: Math.round(pct(fresh, 50)),
  freshness_p99_ms: Math.round(pct(fresh, 99)),
  clickhouse_clicks: rec.raw.clicks,
  machine: `${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown cpu'}`,
  date: new Date().toISOString().slice(0, 10),
}
process.stdout.write(`${JSON.stringify(figures)}\n`)
process.exit(0)
