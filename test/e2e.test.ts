/**
 * End to end, as an operator runs it: the embedded app (nats-server child, chDB, every tier
 * in one process) started by the launcher; 10,000 clicks and 500 FTD postbacks, some of
 * them repeated; exact counts and money in ClickHouse (raw tables and rollups) and in what
 * /ws delivered; then a graceful restart on the same data directory keeps every total.
 */
import { rmSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { D } from '../common/money.js'
import type { LiveDelta } from '../common/live.js'
import { api, spawnApp, waitFor, type RunningApp } from './helpers/app.js'
import { tempDir, TEST_SECRETS } from './helpers/config.js'
import { driveTraffic, setupProgram, type Expected } from './helpers/scenario.js'

const dataDir = tempDir('e2e')
const env = { DATA_DIR: dataDir, OPERATOR_API_KEY: TEST_SECRETS.OPERATOR_API_KEY }
let app: RunningApp | undefined

afterAll(async () => {
  await app?.kill().catch(() => {})
  rmSync(dataDir, { recursive: true, force: true })
})

type Totals = { clicks: number; registrations: number; ftds: number; unattributed: number; commission: Record<string, string> }

function sumDeltas(deltas: LiveDelta[]): Totals {
  const t: Totals = { clicks: 0, registrations: 0, ftds: 0, unattributed: 0, commission: {} }
  for (const d of deltas)
    for (const r of d.rows) {
      t.clicks += r.clicks
      t.registrations += r.registrations
      t.ftds += r.ftds
      t.unattributed += r.unattributed
      for (const [c, a] of Object.entries(r.commission)) t.commission[c] = new D(t.commission[c] ?? 0).plus(a).toFixed()
    }
  return t
}

describe('embedded app end to end', () => {
  let expected: Expected
  const deltas: LiveDelta[] = []
  let affiliateDeltas: LiveDelta[] = []

  it('tracks 10,000 clicks and 500 FTDs exactly, in ClickHouse and on /ws', async () => {
    app = await spawnApp({ env })
    const call = api(app.url, TEST_SECRETS.OPERATOR_API_KEY)
    const prog = await setupProgram(call)

    // An operator socket sees everything; an affiliate socket only its own rows.
    const tok = await call('POST', `/api/affiliates/${prog.links[0]!.affiliateId}/tokens`, {})
    const open = (token: string, into: LiveDelta[]) =>
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(`${app!.url.replace('http', 'ws')}/ws`)
        ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', token })))
        ws.on('message', (m) => {
          const msg = JSON.parse(String(m))
          if (msg.type === 'hello') resolve(ws)
          else if (msg.type === 'delta') into.push(msg)
          else reject(new Error(String(m)))
        })
        ws.on('error', reject)
      })
    affiliateDeltas = []
    const opWs = await open(TEST_SECRETS.OPERATOR_API_KEY, deltas)
    const affWs = await open(tok.body.token, affiliateDeltas)

    expected = await driveTraffic(app.url, prog, { clicks: 10_000, ftds: 500, replays: 50, secondFtds: 20, forged: 10 })

    const rec = await waitFor(
      'all events in ClickHouse',
      async () => (await call('GET', '/api/reports/reconcile')).body,
      (r: any) =>
        r.raw.clicks === expected.clicks &&
        r.raw.ftds + r.raw.duplicates >= expected.ftds + expected.duplicates &&
        r.raw.unattributed === expected.unattributed &&
        r.raw.ledgerEntries === expected.ftds,
    )
    expect(rec.raw).toMatchObject({
      clicks: expected.clicks,
      registrations: expected.registrations,
      ftds: expected.ftds,
      unattributed: expected.unattributed,
      duplicates: expected.duplicates,
      commission: expected.commission,
      ledgerEntries: expected.ftds,
      ledgerRows: expected.ftds,
    })
    // Every event exactly once: replays never reached the table twice.
    expect(rec.raw.events).toBe(rec.raw.distinctEvents)
    expect(rec.raw.events).toBe(expected.clicks + expected.registrations + expected.ftds + expected.duplicates + expected.unattributed)
    // Rollups (materialized views) agree with the raw tables to the unit and the cent.
    expect(rec.rollup).toEqual({
      clicks: expected.clicks,
      registrations: expected.registrations,
      ftds: expected.ftds,
      unattributed: expected.unattributed,
      commission: expected.commission,
    })

    // What /ws delivered adds up to the same totals.
    await waitFor(
      'live deltas',
      async () => sumDeltas(deltas),
      (t) => t.clicks === expected.clicks && t.ftds === expected.ftds,
      10_000,
    )
    expect(sumDeltas(deltas)).toEqual({
      clicks: expected.clicks,
      registrations: expected.registrations,
      ftds: expected.ftds,
      unattributed: expected.unattributed,
      commission: expected.commission,
    })

    // The affiliate's socket carried only its own affiliate's rows, and all of them.
    const mine = prog.links[0]!
    for (const d of affiliateDeltas) for (const r of d.rows) expect(r.affiliateId).toBe(mine.affiliateId)
    const affTotals = sumDeltas(affiliateDeltas)
    expect(affTotals.clicks).toBe(expected.clicks / 2)
    expect(affTotals.commission).toEqual({ [mine.currency]: new D(mine.amount).times(expected.ftds / 2).toFixed() })

    // The affiliate's REST view is pinned to itself.
    const affCall = api(app.url, tok.body.token)
    const own = await affCall('GET', '/api/reports/summary?from=2000-01-01T00:00:00Z')
    expect(own.status).toBe(200)
    expect(own.body.byAffiliate.map((r: any) => r.affiliateId)).toEqual([mine.affiliateId])
    expect((await affCall('GET', `/api/reports/summary?affiliateId=${prog.links[1]!.affiliateId}`)).status).toBe(403)
    expect((await affCall('GET', '/api/reports/reconcile')).status).toBe(403)
    opWs.close()
    affWs.close()
  }, 180_000)

  it('keeps every event and every total across a graceful restart on the same data directory', async () => {
    expect(await app!.stop()).toBe(0)
    app = await spawnApp({ env })
    const call = api(app.url, TEST_SECRETS.OPERATOR_API_KEY)
    const rec = (await call('GET', '/api/reports/reconcile')).body
    expect(rec.ledgerGaps).toBe(0)
    expect(rec.raw).toMatchObject({ clicks: expected.clicks, ftds: expected.ftds, registrations: expected.registrations, commission: expected.commission })
    expect(rec.rollup.commission).toEqual(expected.commission)
    // Links survive in KV: the same code still redirects.
    const links = (await call('GET', '/api/links')).body.items
    const r = await fetch(`${app.url}/c/${links[0].code}`, { redirect: 'manual' })
    expect(r.status).toBe(302)
    expect(await app.stop()).toBe(0)
    app = undefined
  }, 120_000)
})
