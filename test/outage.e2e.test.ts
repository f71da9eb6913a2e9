/**
 * A NATS outage, end to end: the whole app as a child process (chDB inside it) against a
 * nats-server this test stops and starts. While NATS is away every click still gets its
 * 302 (fsync'd to the spool first), /readyz answers 503, a postback gets 503 with
 * Retry-After at once; the app is then SIGKILLed mid-outage, NATS comes back on the same
 * store and port, the app starts again: every redirected click is in ClickHouse exactly once.
 */
import { rmSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, startNatsServer, type EmbeddedNats } from '../common/nats.js'
import { api, pool, spawnApp, waitFor, type RunningApp } from './helpers/app.js'
import { tempDir, TEST_SECRETS } from './helpers/config.js'

const natsDir = tempDir('outage-nats')
const dataDir = tempDir('outage')
let natsPort: number
let nats: EmbeddedNats | undefined
let app: RunningApp | undefined
let env: Record<string, string>

beforeAll(async () => {
  natsPort = await freePort()
  nats = await startNatsServer({ storeDir: natsDir, port: natsPort })
  env = { NATS_URL: nats.url, DATA_DIR: dataDir, ...TEST_SECRETS }
  app = await spawnApp({ env })
}, 120_000)

afterAll(async () => {
  await app?.kill().catch(() => {})
  await nats?.stop()
  rmSync(natsDir, { recursive: true, force: true })
  rmSync(dataDir, { recursive: true, force: true })
})

async function clickIds(call: ReturnType<typeof api>): Promise<string[]> {
  const ids: string[] = []
  let cursor: string | undefined
  do {
    const r = await call<{ items: { eventId: string }[]; next?: string }>('GET', `/api/events?kind=click&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
    if (r.status !== 200) throw new Error(`events: ${JSON.stringify(r)}`)
    ids.push(...r.body.items.map((i) => i.eventId))
    cursor = r.body.next
  } while (cursor)
  return ids
}

describe('NATS outage', () => {
  it('keeps every redirected click through an outage and a SIGKILL, exactly once; readyz and postbacks say 503 meanwhile', async () => {
    let call = api(app!.url, TEST_SECRETS.OPERATOR_API_KEY)
    const a = await call('POST', '/api/affiliates', { name: 'Outage Media' })
    expect(a.status).toBe(201)
    const l = await call('POST', '/api/links', { affiliateId: a.body.id, destination: 'https://brand.example/land?cid={click_id}' })
    expect(l.status).toBe(201)
    const s = await call('POST', '/api/sources', { name: 'platform' })
    expect(s.status).toBe(201)

    // Deal amounts on the API keep every digit of a JSON number too.
    const deal = await fetch(`${app!.url}/api/deals/cpa`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_SECRETS.OPERATOR_API_KEY}`, 'content-type': 'application/json' },
      body: `{"affiliateId": ${a.body.id}, "amount": 99999999999999999.99, "currency": "EUR"}`,
    })
    expect(deal.status).toBe(201)
    expect(JSON.stringify((await call('GET', '/api/deals')).body)).toContain('"99999999999999999.99"')

    const click = async () => {
      const r = await fetch(`${app!.url}/c/${l.body.code}`, { redirect: 'manual' })
      expect(r.status).toBe(302)
      return new URL(r.headers.get('location')!).searchParams.get('cid')!
    }
    await waitFor('the link at ingest', () => fetch(`${app!.url}/c/${l.body.code}`, { redirect: 'manual' }).then((r) => r.status), (st) => st === 302)
    const sent: string[] = []
    sent.push(...(await pool(20, 5, click)))
    await waitFor('the clicks before the outage in ClickHouse', () => clickIds(call), (ids) => ids.length >= 21)

    await nats!.stop()
    const ready = await waitFor('readyz to say 503', () => fetch(`${app!.url}/readyz`).then(async (r) => ({ status: r.status, body: (await r.json()) as any })), (r) => r.status === 503, 15_000)
    expect(ready.body).toMatchObject({ ready: false, notReady: expect.arrayContaining(['ingest']), reasons: { ingest: expect.stringContaining('NATS') } })

    const t0 = Date.now()
    const pb = await fetch(`${app!.url}/postback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-postback-token': s.body.token },
      body: JSON.stringify({ source: s.body.id, event: 'registration', event_id: 'reg-outage', player_id: 'p-1' }),
    })
    expect(Date.now() - t0).toBeLessThan(1000)
    expect(pb.status).toBe(503)
    expect(Number(pb.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(await pb.json()).toMatchObject({ error: 'unavailable', reason: expect.stringContaining('retry') })

    // Every click of the outage is answered, and only once it is on disk.
    sent.push(...(await pool(150, 10, click)))
    expect((await fetch(`${app!.url}/readyz`)).status).toBe(503)
    await app!.kill() // SIGKILL: nothing flushed, nothing drained

    nats = await startNatsServer({ storeDir: natsDir, port: natsPort })
    app = await spawnApp({ env })
    call = api(app.url, TEST_SECRETS.OPERATOR_API_KEY)
    const expected = sent.length + 1 // and the first probe click
    const ids = await waitFor('every click in ClickHouse', () => clickIds(call), (x) => x.length >= expected, 90_000)
    // a moment more: a duplicate would come with the same batch
    await new Promise((r) => setTimeout(r, 2000))
    const final = await clickIds(call)
    expect(final.length).toBe(expected)
    expect(new Set(final).size).toBe(final.length)
    for (const id of sent) expect(final).toContain(id)
    // the platform retries its postback once NATS is back: accepted
    const retry = await fetch(`${app.url}/postback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-postback-token': s.body.token },
      body: JSON.stringify({ source: s.body.id, event: 'registration', event_id: 'reg-outage', player_id: 'p-1' }),
    })
    expect(retry.status).toBe(200)
    expect((await fetch(`${app.url}/readyz`)).status).toBe(200)
  }, 300_000)
})
