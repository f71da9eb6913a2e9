/**
 * Protection of the ingest tier through its real endpoints and a real nats-server: postback
 * rate limits per client address and per authenticated source (429 with Retry-After, the
 * click path never limited), and the click flood guard (the 61st click of one address in a
 * window is still redirected but marked `flood` on the stream; another address is not).
 * Client addresses come from X-Forwarded-For (TRUST_PROXY).
 */
import type { JetStreamManager, NatsConnection } from 'nats'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launch, type App } from '../launcher.js'
import { EntityStore } from '../common/entities.js'
import { connectNats } from '../common/nats.js'
import { EVENTS_STREAM } from '../common/subjects.js'
import { tempDir, TEST_SECRETS } from '../test/helpers/config.js'
import { startTestNats } from '../test/helpers/nats.js'

let nats: Awaited<ReturnType<typeof startTestNats>>
let app: App
let nc: NatsConnection
let jsm: JetStreamManager
let code: string
const src: { id: number; secret: string }[] = []

beforeAll(async () => {
  nats = await startTestNats()
  app = await launch(['--tier', 'ingest'], {
    NATS_URL: nats.url,
    DATA_DIR: tempDir('limits'),
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    TRUST_PROXY: 'true',
    POSTBACK_RATE_PER_ADDRESS: '5',
    POSTBACK_RATE_PER_SOURCE: '8',
    POSTBACK_RATE_WINDOW_S: '3600',
    CLICK_FLOOD_LIMIT: '60',
    CLICK_FLOOD_WINDOW_S: '3600',
    ...TEST_SECRETS,
  })
  nc = await connectNats(nats.url, 'test')
  jsm = await nc.jetstreamManager()
  const store = await EntityStore.open(nc)
  for (let i = 0; i < 4; i++) {
    const s = await store.sources.create({ name: `s${i}` }, Date.now())
    src.push({ id: s.source.id, secret: s.secret })
  }
  const a = await store.affiliates.create({ name: 'A' }, Date.now())
  code = (await store.links.create({ affiliateId: a.id, destination: 'https://brand.example/x?cid={click_id}' }, Date.now())).code
  await new Promise((r) => setTimeout(r, 300)) // the KV watch brings links and sources to ingest
})

afterAll(async () => {
  await app?.stop()
  await nc?.close()
  await nats?.stop()
})

let n = 0
const postback = (s: { id: number; secret: string }, from: string, token = s.secret) =>
  fetch(`${app.url}/postback`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': from, 'x-postback-token': token },
    body: JSON.stringify({ source: s.id, event: 'registration', event_id: `r-${++n}`, player_id: `p-${n}` }),
  })

const click = (from: string) => fetch(`${app.url}/c/${code}`, { redirect: 'manual', headers: { 'x-forwarded-for': from } })

describe('postback rate limits', () => {
  it('per client address: over the limit is a 429 with Retry-After and a reason; another address is unaffected', async () => {
    for (let i = 0; i < 5; i++) expect((await postback(src[0]!, '198.51.100.1')).status).toBe(200)
    const over = await postback(src[0]!, '198.51.100.1')
    expect(over.status).toBe(429)
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(await over.json()).toMatchObject({
      error: 'rate_limited',
      reason: expect.stringMatching(/more than 5 postbacks in 3600 s from address 198\.51\.100\.1; retry after \d+ s/),
    })
    expect((await postback(src[0]!, '198.51.100.2')).status).toBe(200)
  })

  it('per source: over the limit is a 429 whatever the address; another source is unaffected', async () => {
    for (let i = 0; i < 8; i++) expect((await postback(src[1]!, `198.51.100.${10 + i}`)).status).toBe(200)
    const over = await postback(src[1]!, '198.51.100.30')
    expect(over.status).toBe(429)
    expect(over.headers.get('retry-after')).toMatch(/^\d+$/)
    expect(await over.json()).toMatchObject({ error: 'rate_limited', reason: expect.stringContaining(`from source ${src[1]!.id}`) })
    expect((await postback(src[2]!, '198.51.100.31')).status).toBe(200)
  })

  it('a stranger with a wrong token does not use up a source its budget', async () => {
    for (let i = 0; i < 12; i++) expect((await postback(src[3]!, `198.51.100.${40 + i}`, 'not-the-token')).status).toBe(401)
    expect((await postback(src[3]!, '198.51.100.60')).status).toBe(200)
  })

  it('never limits the click path', async () => {
    for (let i = 0; i < 12; i++) expect((await click('198.51.100.1')).status).toBe(302)
  })
})

describe('click flood guard', () => {
  async function clickEvents(): Promise<Map<string, any>> {
    const info = await jsm.streams.info(EVENTS_STREAM)
    const out = new Map<string, any>()
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(EVENTS_STREAM, { seq })
      if (!m.subject.endsWith('.click')) continue
      for (const line of new TextDecoder().decode(m.data).trim().split('\n')) {
        const e = JSON.parse(line)
        out.set(e.id, e)
      }
    }
    return out
  }

  it('redirects the 61st click of one address but marks it flood on the stream; another address is not marked', async () => {
    const ids: string[] = []
    for (let i = 0; i < 61; i++) {
      const r = await click('203.0.113.50')
      expect(r.status).toBe(302)
      ids.push(new URL(r.headers.get('location')!).searchParams.get('cid')!)
    }
    const other = await click('203.0.113.51')
    expect(other.status).toBe(302)
    const otherId = new URL(other.headers.get('location')!).searchParams.get('cid')!
    const events = await clickEvents()
    expect(ids.slice(0, 60).map((id) => events.get(id)?.flood)).toEqual(Array(60).fill(undefined))
    expect(events.get(ids[60]!)).toMatchObject({ kind: 'click', ip: '203.0.113.50', flood: true })
    expect(events.get(otherId)).toMatchObject({ kind: 'click', ip: '203.0.113.51' })
    expect(events.get(otherId).flood).toBeUndefined()
  })
})
