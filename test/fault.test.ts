/**
 * Crash safety, proven rather than argued: the processor runs as its own process
 * (distributed wiring: a test-owned nats-server, an ingest process, a processor + query-api
 * process with chDB) and is killed with SIGKILL several times mid-stream, then restarted on
 * the same data directory. Its totals must equal those of an identical run without kills.
 */
import { rmSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { api, spawnApp, waitFor, type RunningApp } from './helpers/app.js'
import { tempDir, TEST_SECRETS } from './helpers/config.js'
import { startTestNats } from './helpers/nats.js'
import { driveTraffic, setupProgram, type Expected } from './helpers/scenario.js'

const cleanup: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {})
})

const TRAFFIC = { clicks: 6000, ftds: 300, replays: 30, secondFtds: 10, forged: 5, concurrency: 32 }

async function run(kills: number): Promise<{ expected: Expected; reconcile: any; killed: number }> {
  const nats = await startTestNats()
  cleanup.push(() => nats.stop())
  const base = { NATS_URL: nats.url, ...TEST_SECRETS }
  const procDir = tempDir('proc')
  cleanup.push(async () => rmSync(procDir, { recursive: true, force: true }))
  const procEnv = { ...base, DATA_DIR: procDir, PROCESSOR_BATCH_MESSAGES: '20', PROCESSOR_BATCH_WAIT_MS: '20' }
  const ingest = await spawnApp({ env: { ...base, DATA_DIR: tempDir('ingest') }, args: ['--tier', 'ingest'] })
  cleanup.push(() => ingest.kill())
  let proc: RunningApp = await spawnApp({ env: procEnv, args: ['--tier', 'processor,query-api'] })
  const port = proc.port
  cleanup.push(() => proc.kill())
  const call = () => api(proc.url, TEST_SECRETS.OPERATOR_API_KEY)
  const prog = await setupProgram(call())

  let killed = 0
  const killer = (async () => {
    for (let k = 0; k < kills; k++) {
      // Wait until the processor is mid-stream: some batches applied, more waiting.
      const before = (await call()('GET', '/api/status')).body.processor.applied
      await waitFor(
        'processor mid-stream',
        async () => (await call()('GET', '/api/status')).body.processor,
        (p: any) => p.applied > before && p.lag > 0,
        60_000,
      )
      await proc.kill()
      killed++
      proc = await spawnApp({ env: procEnv, args: ['--tier', 'processor,query-api'], port })
    }
  })()

  const expected = await driveTraffic(ingest.url, prog, TRAFFIC)
  await killer
  const reconcile = await waitFor(
    'processor caught up',
    async () => ({ r: (await call()('GET', '/api/reports/reconcile')).body, s: (await call()('GET', '/api/status')).body }),
    // Every event sent is in: lag alone can read 0 for a moment on a consumer just recreated.
    (x: any) =>
      x.s.processor.lag === 0 &&
      x.s.affiliateStage.lag === 0 &&
      x.r.raw.events === expected.clicks + expected.registrations + expected.ftds + expected.duplicates + expected.unattributed &&
      x.r.raw.ledgerEntries === expected.ftds,
    90_000,
  )
  await proc.stop()
  await ingest.stop()
  return { expected, reconcile: reconcile.r, killed }
}

describe('processor killed with SIGKILL mid-stream', () => {
  it('ends with exactly the totals of a run without the kills', async () => {
    const clean = await run(0)
    const crashed = await run(3)
    expect(crashed.killed).toBe(3)

    const want = {
      clicks: clean.expected.clicks,
      registrations: clean.expected.registrations,
      ftds: clean.expected.ftds,
      unattributed: clean.expected.unattributed,
      duplicates: clean.expected.duplicates,
      commission: clean.expected.commission,
      ledgerEntries: clean.expected.ftds,
      ledgerRows: clean.expected.ftds,
    }
    expect(clean.reconcile.raw).toMatchObject(want)
    expect(clean.reconcile.ledgerGaps).toBe(0)
    expect(crashed.reconcile.ledgerGaps, 'ledger lines missing from a chain after the kills').toBe(0)
    expect(crashed.reconcile.raw).toEqual(clean.reconcile.raw)
    expect(crashed.reconcile.rollup).toEqual(clean.reconcile.rollup)
    expect(crashed.reconcile.raw.events).toBe(crashed.reconcile.raw.distinctEvents)
  }, 300_000)
})
