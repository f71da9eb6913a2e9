/**
 * The embedded app's redirect latency at a steady, realistic load: GET /c/:code paced at
 * 400 clicks/s (the processor writing them to ClickHouse alongside, in the same process),
 * p50 and p99, with the app's event-loop delay from /api/status read when the window starts
 * and when it ends.
 *
 * The event-loop delay is /api/status's reading of its last complete 10 s window, taken at the
 * end of the load (so it covers the load alone), beside the whole process's since its start.
 *
 * Part of `npm run bench`; alone: node --import tsx bench/redirect-latency.ts [seconds]
 */
import { rmSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { api, spawnApp } from '../test/helpers/app.js'
import { tempDir, TEST_SECRETS } from '../test/helpers/config.js'
import { hasWrk, load } from './load.js'

type LoopDelay = { p50: number; p99: number; max: number }
type LoopFigures = { windowS: number; lastWindow: LoopDelay; sinceStart: LoopDelay }

export type RedirectLatency = {
  rate: number
  duration_s: number
  rps: number
  p50_ms: number
  p99_ms: number
  /** the app's event-loop delay over the last 10 s of the load */
  loop_delay_ms: LoopDelay
  /** since the app started (start-up, warm-up and the load) */
  loop_delay_since_start_ms: LoopDelay
  load_generator: 'wrk' | 'autocannon'
}

export async function redirectLatency(o: { rate?: number; durationS?: number; say?: (s: string) => void } = {}): Promise<RedirectLatency> {
  const rate = o.rate ?? 400
  const durationS = o.durationS ?? 20
  const dataDir = tempDir('bench-latency')
  const app = await spawnApp({ nodeArgs: ['--max-semi-space-size=32'], env: { DATA_DIR: dataDir, ...TEST_SECRETS, LOG_LEVEL: 'warn' } })
  try {
    const call = api(app.url, TEST_SECRETS.OPERATOR_API_KEY)
    const aff = (await call('POST', '/api/affiliates', { name: 'latency' })).body
    const link = (await call('POST', '/api/links', { affiliateId: aff.id, destination: 'https://brand.example/land?cid={click_id}&s1={sub1}' })).body
    await new Promise((r) => setTimeout(r, 300)) // the link reaches ingest through a KV watch
    const url = `${app.url}/c/${link.code}?sub1=latency`
    // Fewer connections than flat out: each pauses ~50 ms between clicks at 400/s.
    const connections = Math.max(1, Math.round(rate / 20))
    await load(url, 3, rate, connections) // warm-up
    const r = await load(url, durationS, rate, connections)
    const loop = (await call('GET', '/api/status')).body.eventLoopDelayMs as LoopFigures
    o.say?.(
      `redirect paced at ${rate}/s for ${durationS} s (fresh embedded app): ${r.rps.toFixed(0)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms | event-loop delay p50/p99/max ${fmt(loop.lastWindow)} ms over the last ${loop.windowS} s, ${fmt(loop.sinceStart)} ms since start`,
    )
    return {
      rate,
      duration_s: durationS,
      rps: Math.round(r.rps),
      p50_ms: r.p50,
      p99_ms: r.p99,
      loop_delay_ms: loop.lastWindow,
      loop_delay_since_start_ms: loop.sinceStart,
      load_generator: hasWrk ? 'wrk' : 'autocannon',
    }
  } finally {
    await app.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

const fmt = (d: LoopDelay) => [d.p50, d.p99, d.max].map((x) => x.toFixed(1)).join('/')

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = await redirectLatency({ durationS: Number(process.argv[2] ?? 20), say: (s) => process.stderr.write(`${s}\n`) })
  process.stdout.write(`${JSON.stringify(r)}\n`)
  process.exit(0)
}
