/**
 * Sustained load: clicks at a fixed rate straight onto the event stream for a while, as a
 * fleet of ingest nodes would put them (the same Publisher the ingest tier uses), into a
 * running app. Measures events/s into ClickHouse, consumer lag every second, and freshness
 * (a click accepted by GET /c/:code → its delta on /ws) from probe clicks on their own link;
 * then waits for the stream to drain and checks that ClickHouse holds every click.
 *
 * Part of `npm run bench` (on the app the other phases used); alone, on a fresh app and
 * nats-server: node --import tsx bench/sustained.ts [seconds] [rate]
 */
import { once } from 'node:events'
import { rmSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { connect } from 'nats'
import WebSocket from 'ws'
import { ClickIdSigner } from '../common/clickid.js'
import type { ClickEvent } from '../common/events.js'
import { createLogger } from '../common/log.js'
import { Publisher } from '../ingest/publisher.js'
import { api, spawnApp, waitFor } from '../test/helpers/app.js'
import { tempDir, TEST_SECRETS } from '../test/helpers/config.js'
import { startTestNats } from '../test/helpers/nats.js'
import { BROWSER_UA } from '../test/helpers/scenario.js'
import { pct } from './load.js'

export type Sustained = {
  sustained_rate: number
  sustained_s: number
  e2e_eps: number
  lag_max_first_third: number
  lag_max_last_third: number
  freshness_p50_ms: number
  freshness_p99_ms: number
  /** the processor's wall time per step over the run, µs per event */
  step_us_per_event: Record<string, number>
}

export async function sustained(o: { url: string; natsUrl: string; rate: number; seconds: number; say: (s: string) => void }): Promise<Sustained> {
  const { rate, seconds: SUSTAIN, say } = o
  const call = api(o.url, TEST_SECRETS.OPERATOR_API_KEY)
  const status = async () => (await call('GET', '/api/status')).body
  const aff = (await call('POST', '/api/affiliates', { name: 'sustained' })).body
  const link = (await call('POST', '/api/links', { affiliateId: aff.id, destination: 'https://brand.example/land?cid={click_id}&s1={sub1}' })).body
  const probeAff = (await call('POST', '/api/affiliates', { name: 'probe' })).body
  const probe = (await call('POST', '/api/links', { affiliateId: probeAff.id, destination: 'https://brand.example/p?cid={click_id}' })).body
  await new Promise((r) => setTimeout(r, 300)) // the links reach ingest through a KV watch

  const ws = new WebSocket(`${o.url.replace('http', 'ws')}/ws`)
  await once(ws, 'open')
  ws.send(JSON.stringify({ type: 'auth', token: TEST_SECRETS.OPERATOR_API_KEY }))
  let probeWaiter: (() => void) | undefined
  ws.on('message', (m) => {
    const d = JSON.parse(String(m))
    if (d.type === 'delta' && d.rows.some((r: { affiliateId: number; clicks: number }) => r.affiliateId === probeAff.id && r.clicks > 0)) probeWaiter?.()
  })
  const fresh: number[] = []
  let running = true
  const prober = (async () => {
    while (running) {
      const seen = new Promise<void>((r) => (probeWaiter = r))
      const res = await fetch(`${o.url}/c/${probe.code}`, { redirect: 'manual', headers: { 'user-agent': BROWSER_UA } })
      const accepted = performance.now()
      if (res.status !== 302) throw new Error(`probe ${res.status}`)
      await Promise.race([seen, new Promise((r) => setTimeout(r, 5000))])
      fresh.push(performance.now() - accepted)
      await new Promise((r) => setTimeout(r, 250))
    }
  })()

  const nc = await connect({ servers: o.natsUrl })
  const publisher = new Publisher(nc, { partitions: 16, maxBatchEvents: 2000, maxInflight: 4, log: createLogger('warn') })
  const signer = new ClickIdSigner(TEST_SECRETS.CLICK_SECRET)
  const before = await status()
  const lags: number[] = []
  const sampler = setInterval(() => void status().then((s) => lags.push(s.processor.lag)), 1000)
  const t0 = performance.now()
  let sent = 0
  const tickMs = 20
  while (performance.now() - t0 < SUSTAIN * 1000) {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate)
    for (; sent < due; sent++) {
      const ts = Date.now()
      const e: ClickEvent = {
        kind: 'click',
        id: signer.issue({ ts, linkId: link.id, affiliateId: aff.id, offerId: 0 }),
        ts,
        code: link.code,
        linkId: link.id,
        affiliateId: aff.id,
        offerId: 0,
        ip: '198.51.100.7',
        // BENCH_UA: compare with the spine's short bot agent (before bot clicks were filtered, the bench sent 'bench/1.0')
        ua: process.env.BENCH_UA ?? BROWSER_UA,
        referer: '',
        sub: { sub1: 'stream' },
        params: {},
      }
      void publisher.click(e)
    }
    await new Promise((r) => setTimeout(r, tickMs))
  }
  await publisher.drain()
  const sendSecs = (performance.now() - t0) / 1000
  clearInterval(sampler)
  const after = await status()
  const e2eEps = (after.processor.events - before.processor.events) / sendSecs
  running = false
  await prober
  await waitFor(
    'final drain',
    async () => (await status()).processor.lag,
    (l: number) => l === 0,
    180_000,
  )
  const rec = (await call('GET', '/api/reports/reconcile')).body
  const final = await status()
  ws.close()
  await nc.close()

  const third = Math.max(1, Math.floor(lags.length / 3))
  const lagFirst = Math.max(...lags.slice(0, third))
  const lagLast = Math.max(...lags.slice(-third))
  const processed = after.processor.events - before.processor.events
  const stepUs: Record<string, number> = {}
  for (const [k, v] of Object.entries(after.processor.stepMs as Record<string, number>)) stepUs[k] = Number((((v - (before.processor.stepMs[k] ?? 0)) * 1000) / Math.max(1, processed)).toFixed(2))
  say(`sustained ${rate}/s onto the stream for ${SUSTAIN} s: ${sent} sent, ${e2eEps.toFixed(0)} events/s into ClickHouse during the run`)
  say(`          consumer lag (messages), sampled each second: max in the first third ${lagFirst}, in the last third ${lagLast}`)
  say(`          freshness, click accepted → delta on /ws: p50 ${pct(fresh, 50).toFixed(0)} ms, p99 ${pct(fresh, 99).toFixed(0)} ms over ${fresh.length} probes`)
  say(`          processor wall time per event, µs: ${Object.entries(stepUs).map(([k, v]) => `${k} ${v}`).join(', ')}`)
  say(`          ClickHouse holds ${rec.raw.clicks} clicks = ${final.processor.events} events processed; rollups ${rec.rollup.clicks}`)
  return {
    sustained_rate: rate,
    sustained_s: SUSTAIN,
    e2e_eps: Math.round(e2eEps),
    lag_max_first_third: lagFirst,
    lag_max_last_third: lagLast,
    freshness_p50_ms: Math.round(pct(fresh, 50)),
    freshness_p99_ms: Math.round(pct(fresh, 99)),
    step_us_per_event: stepUs,
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const nats = await startTestNats()
  const dataDir = tempDir('bench-sustained')
  const app = await spawnApp({
    nodeArgs: ['--max-semi-space-size=32', ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)],
    env: { DATA_DIR: dataDir, NATS_URL: nats.url, ...TEST_SECRETS, LOG_LEVEL: 'warn' },
  })
  try {
    const r = await sustained({ url: app.url, natsUrl: nats.url, seconds: Number(process.argv[2] ?? 60), rate: Number(process.argv[3] ?? 22_000), say: (s) => process.stderr.write(`${s}\n`) })
    process.stdout.write(`${JSON.stringify(r)}\n`)
  } finally {
    await app.stop()
    await nats.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
  process.exit(0)
}
