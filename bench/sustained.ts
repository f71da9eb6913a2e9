/**
 * Sustained load: clicks at a fixed rate straight onto the event stream for a while, as a
 * fleet of ingest nodes would put them (the same Publisher the ingest tier uses), into a
 * running app. Measures events/s into ClickHouse, consumer lag every second, and freshness
 * (a click accepted by GET /c/:code → its delta on /ws) from probe clicks on their own link;
 * then waits for the stream to drain and checks that ClickHouse holds every click.
 *
 * With `money` (a share, e.g. 0.3), that share of the events are conversions instead of clicks,
 * through the commission engine: per player a registration (with a click of the run), a first
 * deposit and activity days, under a hybrid deal (qualified CPA, RevShare). It then also
 * reports the affiliate stage (ledger lines per second, its lag) and, from probe postbacks over
 * HTTP, the time from a postback accepted to its commission delta on /ws.
 *
 * Part of `npm run bench` (on the app the other phases used); alone, on a fresh app and
 * nats-server: node --import tsx bench/sustained.ts [seconds] [rate] [money share]
 */
import { once } from 'node:events'
import { rmSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { connect } from 'nats'
import WebSocket from 'ws'
import { ClickIdSigner } from '../common/clickid.js'
import { conversionOrderKey, type ClickEvent, type ConversionEvent } from '../common/events.js'
import { createLogger } from '../common/log.js'
import { Publisher } from '../ingest/publisher.js'
import { api, spawnApp, waitFor } from '../test/helpers/app.js'
import { tempDir, TEST_SECRETS } from '../test/helpers/config.js'
import { startTestNats } from '../test/helpers/nats.js'
import { BROWSER_UA } from '../test/helpers/scenario.js'
import { cpuSeconds, pct } from './load.js'

export type Sustained = {
  sustained_rate: number
  sustained_s: number
  e2e_eps: number
  /** events/s processed over the last two thirds of the run: the pipeline is full at both ends
   *  (e2e_eps also counts filling it, about a second of events less over the run) */
  steady_eps: number
  lag_max_first_third: number
  lag_max_last_third: number
  freshness_p50_ms: number
  freshness_p99_ms: number
  /** CPU time (user + system) per event processed over the run, µs: the app, nats-server, the load generator */
  cpu_us_per_event?: { app: number; nats: number; load: number }
  /** the player stage's batches per second over the run (each is an insert per table) */
  batches_per_s: number
  /** the processor's wall time per step over the run, µs per event */
  step_us_per_event: Record<string, number>
  /** with a money share: conversions in the mix, ledger lines written per second, the affiliate stage's lag, postback → commission delta */
  money_share?: number
  ledger_lines_per_s?: number
  affiliate_lag_max_last_third?: number
  earnings_freshness_p50_ms?: number
  earnings_freshness_p99_ms?: number
}

export async function sustained(o: {
  url: string
  natsUrl: string
  rate: number
  seconds: number
  say: (s: string) => void
  money?: number
  /** processes whose CPU time per event to report: the app, nats-server, this load generator */
  pids?: { app?: number; nats?: number }
}): Promise<Sustained> {
  const { rate, seconds: SUSTAIN, say } = o
  const money = o.money ?? 0
  const call = api(o.url, TEST_SECRETS.OPERATOR_API_KEY)
  const status = async () => (await call('GET', '/api/status')).body
  const aff = (await call('POST', '/api/affiliates', { name: 'sustained' })).body
  const link = (await call('POST', '/api/links', { affiliateId: aff.id, destination: 'https://brand.example/land?cid={click_id}&s1={sub1}' })).body
  const probeAff = (await call('POST', '/api/affiliates', { name: 'probe' })).body
  const probe = (await call('POST', '/api/links', { affiliateId: probeAff.id, destination: 'https://brand.example/p?cid={click_id}' })).body
  // the money mix: a hybrid deal for the traffic's affiliate, a CPA for the probe's, a source for the probe postbacks
  let src: { id: number; token: string } | undefined
  if (money > 0) {
    const terms = { currency: 'EUR', cpa: { amount: '50', qualification: { minFirstDeposit: '10' } }, revshare: { bands: [{ from: '0', rate: '0.3' }] } }
    await call('POST', '/api/deals', { name: 'bench hybrid', affiliateId: aff.id, terms })
    await call('POST', '/api/deals', { name: 'probe CPA', affiliateId: probeAff.id, terms: { currency: 'EUR', cpl: { amount: '1' } } })
    src = (await call('POST', '/api/sources', { name: 'bench casino' })).body
  }
  await new Promise((r) => setTimeout(r, 300)) // the links reach ingest through a KV watch

  const ws = new WebSocket(`${o.url.replace('http', 'ws')}/ws`)
  await once(ws, 'open')
  ws.send(JSON.stringify({ type: 'auth', token: TEST_SECRETS.OPERATOR_API_KEY }))
  let probeWaiter: (() => void) | undefined
  let earnWaiter: (() => void) | undefined
  ws.on('message', (m) => {
    const d = JSON.parse(String(m))
    if (d.type === 'delta' && d.rows.some((r: { affiliateId: number; clicks: number }) => r.affiliateId === probeAff.id && r.clicks > 0)) probeWaiter?.()
    if (
      d.type === 'delta' &&
      d.rows.some((r: { affiliateId: number; commission: Record<string, string> }) => r.affiliateId === probeAff.id && Object.keys(r.commission).length > 0)
    )
      earnWaiter?.()
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
  // with money: a registration postback for the probe affiliate (a CPL) every half second,
  // timed from its 200 to its commission on /ws
  const earned: number[] = []
  // players and event ids of this run only: a second run on the same app must not repeat them
  // (the stream would drop a repeated event id; a player registered before is not again)
  const run = Date.now().toString(36)
  // the probe's clicks, made ahead: a registration sooner than 15 s after its click is an
  // injected one the fraud rules reject, so each registers on a click at least 16 s old
  const probeClicks: { cid: string; at: number }[] = []
  const clicker = (async () => {
    if (!src) return
    while (running) {
      const c = await fetch(`${o.url}/c/${probe.code}`, { redirect: 'manual', headers: { 'user-agent': BROWSER_UA } })
      probeClicks.push({ cid: new URL(c.headers.get('location')!).searchParams.get('cid')!, at: performance.now() })
      await new Promise((r) => setTimeout(r, 400))
    }
  })()
  const earnProber = (async () => {
    if (!src) return
    for (let i = 0; running; i++) {
      while (running && !(probeClicks.length && probeClicks[0]!.at < performance.now() - 16_000)) await new Promise((r) => setTimeout(r, 100))
      if (!running) break
      const cid = probeClicks.shift()!.cid
      const seen = new Promise<void>((r) => (earnWaiter = r))
      const res = await fetch(`${o.url}/postback`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-postback-token': src.token },
        body: JSON.stringify({ source: String(src.id), event: 'registration', event_id: `probe-${run}-${i}`, click_id: cid, player_id: `probe-${run}-${i}` }),
      })
      const accepted = performance.now()
      if (res.status !== 200) throw new Error(`probe postback ${res.status}`)
      await Promise.race([seen, new Promise((r) => setTimeout(r, 5000))])
      earned.push(performance.now() - accepted)
      await new Promise((r) => setTimeout(r, 500))
    }
  })()

  const nc = await connect({ servers: o.natsUrl })
  const publisher = new Publisher(nc, { partitions: 16, maxBatchEvents: 2000, maxInflight: 4, log: createLogger('warn') })
  const signer = new ClickIdSigner(TEST_SECRETS.CLICK_SECRET)
  const before = await status()
  const cpu = () => ({ app: cpuSeconds(o.pids?.app), nats: cpuSeconds(o.pids?.nats), load: process.cpuUsage() })
  const cpu0 = cpu()
  const lags: number[] = []
  /** (when, events processed so far), each second */
  const done: [number, number][] = []
  const affLags: number[] = []
  const sampler = setInterval(
    () =>
      void status().then((s) => {
        done.push([performance.now(), s.processor.events])
        lags.push(s.processor.lag)
        affLags.push(s.affiliateStage?.lag ?? 0)
      }),
    1000,
  )
  // the players of the money mix: each a registration with a click of the run, an FTD, then activity days
  let player = 0
  const conversions: ConversionEvent[] = []
  const nextConversion = (ts: number): ConversionEvent => {
    if (conversions.length === 0) {
      const p = `bp-${run}-${++player}`
      // clicked ten minutes before registering (sooner than 15 s would be an injected click)
      const clickId = signer.issue({ ts: ts - 600_000, linkId: link.id, affiliateId: aff.id, offerId: 0 })
      const base = { sourceId: 1, ts, playerId: p }
      const day = new Date(ts).toISOString().slice(0, 10)
      conversions.push(
        { ...base, kind: 'registration', id: `1:r-${p}`, eventId: `r-${p}`, clickId },
        { ...base, kind: 'ftd', id: `1:f-${p}`, eventId: `f-${p}`, amount: '25', currency: 'EUR' },
        ...[1, 2, 3, 4].map((k): ConversionEvent => ({
          ...base,
          kind: 'activity',
          id: `1:a${k}-${p}`,
          eventId: `a${k}-${p}`,
          currency: 'EUR',
          details: { date: day, bets: String(40 + k * 13), wins: String(k * 11) },
        })),
      )
    }
    const e = conversions.shift()!
    return { ...e, ts }
  }
  const t0 = performance.now()
  let sent = 0
  /** conversions the stream did not acknowledge in time (ingest would answer 503, and the
   *  operator's platform send again later): not sent again here, counted */
  let refused = 0
  const refuse = () => void refused++
  const tickMs = 20
  while (performance.now() - t0 < SUSTAIN * 1000) {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate)
    for (; sent < due; sent++) {
      const ts = Date.now()
      if (money > 0 && sent % 10 < money * 10) {
        const c = nextConversion(ts)
        publisher.conversion(c, conversionOrderKey(c)).catch(refuse)
        continue
      }
      const e: ClickEvent = {
        kind: 'click',
        id: signer.issue({ ts, linkId: link.id, affiliateId: aff.id, offerId: 0 }),
        ts,
        code: link.code,
        linkId: link.id,
        affiliateId: aff.id,
        offerId: 0,
        // a visitor each (100.64.0.0/10, the carriers' shared space): one address and device
        // clicking thousands of times a minute is a flood the fraud rules filter
        ip: `100.${64 + ((sent >> 16) & 63)}.${(sent >> 8) & 255}.${sent & 255}`,
        // BENCH_UA: compare with the spine's short bot agent (before bot clicks were filtered, the bench sent 'bench/1.0')
        ua: process.env.BENCH_UA ?? BROWSER_UA,
        referer: '',
        sub: { sub1: 'stream' },
        params: {},
      }
      publisher.click(e).catch(refuse)
    }
    await new Promise((r) => setTimeout(r, tickMs))
  }
  await publisher.drain()
  const sendSecs = (performance.now() - t0) / 1000
  clearInterval(sampler)
  const after = await status()
  const cpu1 = cpu()
  const e2eEps = (after.processor.events - before.processor.events) / sendSecs
  running = false
  await prober
  await earnProber
  await clicker
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

  const lines = (after.affiliateStage?.lines ?? 0) - (before.affiliateStage?.lines ?? 0)
  const third = Math.max(1, Math.floor(lags.length / 3))
  const [fromT, fromN] = done[third] ?? done[0] ?? [0, 0]
  const [toT, toN] = done.at(-1) ?? [1, 0]
  const steadyEps = toT > fromT ? ((toN - fromN) * 1000) / (toT - fromT) : e2eEps
  const lagFirst = Math.max(...lags.slice(0, third))
  const lagLast = Math.max(...lags.slice(-third))
  const processed = after.processor.events - before.processor.events
  const perEvent = (s: number) => Number(((s * 1e6) / Math.max(1, processed)).toFixed(1))
  const cpuPerEvent = o.pids
    ? {
        app: perEvent(cpu1.app - cpu0.app),
        nats: perEvent(cpu1.nats - cpu0.nats),
        load: perEvent((cpu1.load.user + cpu1.load.system - cpu0.load.user - cpu0.load.system) / 1e6),
      }
    : undefined
  const stepUs: Record<string, number> = {}
  for (const [k, v] of Object.entries(after.processor.stepMs as Record<string, number>))
    stepUs[k] = Number((((v - (before.processor.stepMs[k] ?? 0)) * 1000) / Math.max(1, processed)).toFixed(2))
  say(
    `sustained ${rate}/s onto the stream for ${SUSTAIN} s: ${sent} sent${refused ? ` (${refused} not acknowledged by the stream within its timeout: not sent again)` : ''}, ${e2eEps.toFixed(0)} events/s into ClickHouse during the run, ${steadyEps.toFixed(0)}/s over its last two thirds`,
  )
  say(`          consumer lag (messages), sampled each second: max in the first third ${lagFirst}, in the last third ${lagLast}`)
  say(
    `          freshness, click accepted → delta on /ws: p50 ${pct(fresh, 50).toFixed(0)} ms, p99 ${pct(fresh, 99).toFixed(0)} ms over ${fresh.length} probes`,
  )
  say(
    `          ${((after.processor.batches - before.processor.batches) / sendSecs).toFixed(1)} batches/s; processor wall time per event (steps of consecutive batches overlap), µs: ${Object.entries(
      stepUs,
    )
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  )
  if (cpuPerEvent) say(`          CPU per event processed, µs: app ${cpuPerEvent.app}, nats-server ${cpuPerEvent.nats}, load generator ${cpuPerEvent.load}`)
  say(`          ClickHouse holds ${rec.raw.clicks} clicks = ${final.processor.events} events processed; rollups ${rec.rollup.clicks}`)
  if (money > 0)
    say(
      `          money: ${(money * 100).toFixed(0)}% conversions (${player} players); the affiliate stage wrote ${(lines / sendSecs).toFixed(0)} ledger lines/s, lag in the last third ≤ ${Math.max(...affLags.slice(-third))}; postback → commission on /ws p50 ${pct(earned, 50).toFixed(0)} ms, p99 ${pct(earned, 99).toFixed(0)} ms over ${earned.length} probes`,
    )
  return {
    sustained_rate: rate,
    sustained_s: SUSTAIN,
    ...(refused ? { publish_refused: refused } : {}),
    e2e_eps: Math.round(e2eEps),
    steady_eps: Math.round(steadyEps),
    lag_max_first_third: lagFirst,
    lag_max_last_third: lagLast,
    freshness_p50_ms: Math.round(pct(fresh, 50)),
    freshness_p99_ms: Math.round(pct(fresh, 99)),
    ...(cpuPerEvent ? { cpu_us_per_event: cpuPerEvent } : {}),
    batches_per_s: Number(((after.processor.batches - before.processor.batches) / sendSecs).toFixed(1)),
    step_us_per_event: stepUs,
    ...(money > 0
      ? {
          money_share: money,
          ledger_lines_per_s: Math.round(lines / sendSecs),
          affiliate_lag_max_last_third: Math.max(...affLags.slice(-third)),
          earnings_freshness_p50_ms: Math.round(pct(earned, 50)),
          earnings_freshness_p99_ms: Math.round(pct(earned, 99)),
        }
      : {}),
  }
}

/** The processor's and the fraud rules' settings (PROCESSOR_*, FRAUD_*) given to this run, for
 *  the app it starts; the fraud rules at DOMAIN's defaults unless FRAUD_SETTINGS says otherwise. */
function passedOn(): Record<string, string> {
  return {
    FRAUD_SETTINGS: '{}',
    ...Object.fromEntries(
      Object.entries(process.env).filter((e): e is [string, string] => (e[0].startsWith('PROCESSOR_') || e[0].startsWith('FRAUD_')) && e[1] !== undefined),
    ),
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const nats = await startTestNats()
  const dataDir = tempDir('bench-sustained')
  const app = await spawnApp({
    nodeArgs: ['--max-semi-space-size=32', ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)],
    env: { DATA_DIR: dataDir, NATS_URL: nats.url, ...TEST_SECRETS, LOG_LEVEL: 'warn', ...passedOn() },
  })
  try {
    const r = await sustained({
      url: app.url,
      natsUrl: nats.url,
      pids: { app: app.proc.pid, nats: nats.child.pid },
      seconds: Number(process.argv[2] ?? 60),
      rate: Number(process.argv[3] ?? 22_000),
      money: Number(process.argv[4] ?? 0),
      say: (s) => process.stderr.write(`${s}\n`),
    })
    process.stdout.write(`${JSON.stringify(r)}\n`)
  } finally {
    await app.stop()
    await nats.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
  process.exit(0)
}
