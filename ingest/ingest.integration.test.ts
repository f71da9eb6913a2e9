/**
 * The ingest tier through its real HTTP endpoints and a real nats-server: what reaches the
 * event stream, and what never does.
 */
import type { JetStreamManager, NatsConnection } from 'nats'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launch, type App } from '../launcher.js'
import { ClickIdSigner } from '../common/clickid.js'
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
let source: { id: number; token: string }
let affiliateId: number

beforeAll(async () => {
  nats = await startTestNats()
  app = await launch(['--tier', 'ingest'], {
    NATS_URL: nats.url,
    DATA_DIR: tempDir('ingest'),
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    ...TEST_SECRETS,
  })
  nc = await connectNats(nats.url, 'test')
  jsm = await nc.jetstreamManager()
  const store = await EntityStore.open(nc)
  const a = await store.affiliates.create({ name: 'A' }, Date.now())
  affiliateId = a.id
  code = (await store.links.create({ affiliateId: a.id, destination: 'https://brand.example/x?cid={click_id}&a={affiliate_id}&s={sub2}' }, Date.now())).code
  const s = await store.sources.create({ name: 'platform' }, Date.now())
  source = { id: s.source.id, token: s.secret }
  await new Promise((r) => setTimeout(r, 200)) // the KV watch brings the link and source to ingest
})

afterAll(async () => {
  await app?.stop()
  await nc?.close()
  await nats?.stop()
})

async function streamMessages(): Promise<number> {
  return (await jsm.streams.info(EVENTS_STREAM)).state.messages
}

async function lastMessage(): Promise<{ subject: string; events: any[] }> {
  const info = await jsm.streams.info(EVENTS_STREAM)
  const m = await jsm.streams.getMessage(EVENTS_STREAM, { seq: info.state.last_seq })
  return {
    subject: m.subject,
    events: new TextDecoder()
      .decode(m.data)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l)),
  }
}

const pb = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  fetch(`${app.url}/postback`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })

describe('GET /c/:code', () => {
  it('redirects with a signed click id and stores the click with its sub-ids and parameters', async () => {
    const before = await streamMessages()
    const r = await fetch(`${app.url}/c/${code}?sub1=a&sub2=b%20c&gclid=xyz&__proto__=kept`, { redirect: 'manual', headers: { 'user-agent': 'TestUA/1.0' } })
    expect(r.status).toBe(302)
    const loc = new URL(r.headers.get('location')!)
    expect(loc.origin + loc.pathname).toBe('https://brand.example/x')
    expect(loc.searchParams.get('a')).toBe(String(affiliateId))
    expect(loc.searchParams.get('s')).toBe('b c')
    const cid = loc.searchParams.get('cid')!
    const check = new ClickIdSigner(TEST_SECRETS.CLICK_SECRET).verify(cid)
    expect(check).toMatchObject({ ok: true, affiliateId })
    expect(await streamMessages()).toBe(before + 1)
    const m = await lastMessage()
    expect(m.subject).toMatch(/^ev\.\d+\.click$/)
    expect(m.events).toHaveLength(1)
    expect(m.events[0]).toMatchObject({ kind: 'click', id: cid, affiliateId, ua: 'TestUA/1.0', sub: { sub1: 'a', sub2: 'b c' }, params: { gclid: 'xyz' } })
    expect(Object.getOwnPropertyNames(m.events[0].params).sort()).toEqual(['__proto__', 'gclid'])
  })

  it('answers an unknown code with a 404 page and publishes nothing', async () => {
    const before = await streamMessages()
    const r = await fetch(`${app.url}/c/nope-not-here`, { redirect: 'manual' })
    expect(r.status).toBe(404)
    expect(r.headers.get('content-type')).toContain('text/html')
    expect(await r.text()).toContain('Link not found')
    expect(await streamMessages()).toBe(before)
  })

  it('group-commits concurrent clicks: many clicks per stream message', async () => {
    const before = await streamMessages()
    await Promise.all(Array.from({ length: 400 }, () => fetch(`${app.url}/c/${code}`, { redirect: 'manual' })))
    const added = (await streamMessages()) - before
    expect(added).toBeGreaterThan(0)
    expect(added).toBeLessThan(400)
  })
})

describe('/postback', () => {
  const good = () => ({
    source: source.id,
    token: source.token,
    event: 'ftd',
    event_id: `e-${Math.random()}`,
    player_id: 'p1',
    amount: '20.00',
    currency: 'eur',
  })

  it.each([
    ['a wrong token', (b: any) => ({ ...b, token: 'wrong-token' })],
    ['no token', (b: any) => ({ ...b, token: undefined })],
    ['an unknown source', (b: any) => ({ ...b, source: 999 })],
  ])('refuses %s with 401 and publishes nothing', async (_n, mutate) => {
    const before = await streamMessages()
    const r = await pb(mutate(good()))
    expect(r.status).toBe(401)
    expect(await r.json()).toMatchObject({ error: 'unauthorized' })
    expect(await streamMessages()).toBe(before)
  })

  it('rejects invalid input with 400, the field and the reason', async () => {
    const before = await streamMessages()
    const r = await pb({ ...good(), amount: 'ten', event: 'deposit-ish' })
    expect(r.status).toBe(400)
    const body = (await r.json()) as any
    expect(body.error).toBe('invalid_postback')
    expect(Object.keys(body.fields)).toEqual(expect.arrayContaining(['amount', 'event']))
    expect(await streamMessages()).toBe(before)
  })

  it('accepts GET, JSON and form posts, the token in a header or a parameter', async () => {
    const q = new URLSearchParams({ ...good(), source: String(source.id) } as any)
    const g = await fetch(`${app.url}/postback?${q}`)
    expect(g.status).toBe(200)
    const f = await fetch(`${app.url}/postback`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-postback-token': source.token },
      body: new URLSearchParams({ source: String(source.id), event: 'registration', event_id: 'form-1', player_id: 'pf', click_id: 'x' }).toString(),
    })
    expect(f.status).toBe(200)
    const m = await lastMessage()
    expect(m.subject).toMatch(/^ev\.\d+\.registration$/)
    expect(m.events[0]).toMatchObject({ kind: 'registration', eventId: 'form-1', playerId: 'pf', sourceId: source.id })
  })

  it('answers a replay with the first answer and a changed replay with 409', async () => {
    const b = good()
    const first = await pb(b)
    expect(first.status).toBe(200)
    const firstBody = await first.json()
    const before = await streamMessages()
    const again = await pb(b)
    expect(again.status).toBe(200)
    expect(await again.json()).toEqual(firstBody)
    const changed = await pb({ ...b, amount: '21.00' })
    expect(changed.status).toBe(409)
    expect(await changed.json()).toMatchObject({ error: 'conflict' })
    expect(await streamMessages()).toBe(before)
  })

  it('turns 50 concurrent identical postbacks into one stored event with identical answers', async () => {
    const b = good()
    const before = await streamMessages()
    const answers = await Promise.all(Array.from({ length: 50 }, () => pb(b).then(async (r) => ({ status: r.status, body: await r.text() }))))
    expect(new Set(answers.map((a) => a.status))).toEqual(new Set([200]))
    expect(new Set(answers.map((a) => a.body)).size).toBe(1)
    expect(await streamMessages()).toBe(before + 1)
  })
  it('carries when the event happened beside when it was received; the received time by default', async () => {
    const given = await pb({ ...good(), occurred_at: '2026-11-20T10:30:00.250+01:00' })
    expect(given.status, await given.clone().text()).toBe(200)
    const ev = (await lastMessage()).events[0]
    expect(ev.occurredAt).toBe(Date.parse('2026-11-20T09:30:00.250Z'))
    expect(Math.abs(ev.ts - Date.now())).toBeLessThan(60_000)
    expect((await pb(good())).status).toBe(200)
    const dflt = (await lastMessage()).events[0]
    expect(dflt.occurredAt).toBe(dflt.ts)
  })

  it('refuses an occurred time in the future or before 2000 with 400 and the reason, publishing nothing', async () => {
    const before = await streamMessages()
    const future = await pb({ ...good(), occurred_at: Math.floor(Date.now() / 1000) + 3600 })
    expect(future.status).toBe(400)
    expect(await future.json()).toMatchObject({ error: 'invalid_postback', fields: { occurred_at: expect.stringMatching(/in the future/) } })
    const old = await pb({ ...good(), occurred_at: '1999-12-31T23:00:00Z' })
    expect(await old.json()).toMatchObject({ fields: { occurred_at: expect.stringMatching(/before 2000-01-01/) } })
    const vague = await pb({ ...good(), occurred_at: '2026-11-20 09:30' })
    expect(await vague.json()).toMatchObject({ fields: { occurred_at: expect.stringMatching(/ISO 8601 with a zone .* or unix seconds/) } })
    expect(await streamMessages()).toBe(before)
  })

  it('answers the same event id with another occurred time with 409; the same instant written otherwise is a replay', async () => {
    const b = { ...good(), occurred_at: '2026-11-20T09:30:00Z' }
    const first = await pb(b)
    expect(first.status).toBe(200)
    const before = await streamMessages()
    const same = await pb({ ...b, occurred_at: String(Date.parse('2026-11-20T09:30:00Z') / 1000) })
    expect(same.status).toBe(200)
    expect(await same.json()).toEqual(await first.json())
    const other = await pb({ ...b, occurred_at: '2026-11-20T09:31:00Z' })
    expect(other.status).toBe(409)
    expect(await other.json()).toMatchObject({ error: 'conflict' })
    expect(await streamMessages()).toBe(before)
  })
})

describe('health', () => {
  it('reports live and ready', async () => {
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200)
    const r = await fetch(`${app.url}/readyz`)
    expect(r.status).toBe(200)
    expect(await r.json()).toMatchObject({ ready: true, tiers: ['ingest'] })
  })
})
