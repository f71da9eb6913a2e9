/**
 * Postback sources through the real HTTP endpoint and a real nats-server: every event kind
 * reaches the stream with its fields; every authentication failure (wrong token, bad
 * signature, stale timestamp, address not allowed) answers 401/403 and publishes nothing;
 * a source's field and event mappings accept a platform's own parameter names.
 */
import type { JetStreamManager, NatsConnection } from 'nats'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launch, type App } from '../launcher.js'
import { EntityStore } from '../common/entities.js'
import type { ConversionKind } from '../common/events.js'
import { connectNats } from '../common/nats.js'
import { EVENTS_STREAM } from '../common/subjects.js'
import { tempDir, TEST_SECRETS } from '../test/helpers/config.js'
import { startTestNats } from '../test/helpers/nats.js'
import { signPostback } from './postbacks.js'

let nats: Awaited<ReturnType<typeof startTestNats>>
let app: App
let nc: NatsConnection
let jsm: JetStreamManager
let store: EntityStore
const src: Record<'token' | 'hmac' | 'walled' | 'open' | 'mapped', { id: number; secret: string }> = {} as never

beforeAll(async () => {
  nats = await startTestNats()
  app = await launch(['--tier', 'ingest'], { NATS_URL: nats.url, DATA_DIR: tempDir('src'), PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', ...TEST_SECRETS })
  nc = await connectNats(nats.url, 'test')
  jsm = await nc.jetstreamManager()
  store = await EntityStore.open(nc)
  const now = Date.now()
  const make = async (name: string, settings: Parameters<EntityStore['sources']['create']>[0]) => {
    const r = await store.sources.create({ ...settings, name }, now)
    return { id: r.source.id, secret: r.secret }
  }
  src.token = await make('token', { name: '' })
  src.hmac = await make('hmac', { name: '', auth: 'hmac' })
  src.walled = await make('walled', { name: '', ipAllow: ['10.0.0.0/8', '2001:db8::/32'] })
  src.open = await make('loopback allowed', { name: '', ipAllow: ['127.0.0.0/8', '::1/128'] })
  src.mapped = await make('legacy platform', {
    name: '',
    fieldMap: { player_id: 'userid', event_id: 'txn', amount: 'sum', currency: 'cur', event: 'type' },
    eventMap: { signup: 'registration', first_dep: 'ftd', dep: 'deposit' },
  })
  await new Promise((r) => setTimeout(r, 300)) // the KV watch brings the sources to ingest
})

afterAll(async () => {
  await app?.stop()
  await nc?.close()
  await nats?.stop()
})

const messages = async () => (await jsm.streams.info(EVENTS_STREAM)).state.messages
async function last(): Promise<{ subject: string; event: any }> {
  const info = await jsm.streams.info(EVENTS_STREAM)
  const m = await jsm.streams.getMessage(EVENTS_STREAM, { seq: info.state.last_seq })
  return { subject: m.subject, event: JSON.parse(new TextDecoder().decode(m.data).trim()) }
}
let n = 0
const eid = () => `ev-${Date.now()}-${++n}`

const postJson = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${app.url}/postback`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) })

const signed = (secret: string, payload: string, ts = Math.floor(Date.now() / 1000)) => ({
  'x-timestamp': String(ts),
  'x-signature': signPostback(secret, String(ts), payload),
})

describe('every event kind, accepted and stored with its fields', () => {
  const P = 'player-77'
  it.each<[ConversionKind, Record<string, unknown>, Record<string, unknown>]>([
    ['registration', { player_id: P, click_id: 'c1' }, { playerId: P, clickId: 'c1' }],
    ['ftd', { player_id: P, amount: '25', currency: 'EUR' }, { amount: '25', currency: 'EUR' }],
    ['deposit', { player_id: P, amount: '40.10', currency: 'EUR' }, { amount: '40.10', currency: 'EUR' }],
    ['withdrawal', { player_id: P, amount: '15', currency: 'EUR' }, { amount: '15', currency: 'EUR' }],
    [
      'activity',
      { player_id: P, date: '2026-11-23', bets: '1000', wins: '850', bonuses: '20', fees: '1.5', adjustments: '-3', currency: 'EUR' },
      { currency: 'EUR', details: { date: '2026-11-23', bets: '1000', wins: '850', bonuses: '20', fees: '1.5', adjustments: '-3' } },
    ],
    ['trade', { player_id: P, instrument: 'EURUSD', lots: '57.7', spread: '10', commission: '3', currency: 'USD' }, { details: { instrument: 'EURUSD', lots: '57.7', spread: '10', commission: '3' } }],
    ['challenge_purchase', { player_id: P, amount: '155', currency: 'USD', plan: '100k' }, { amount: '155', details: { plan: '100k' } }],
    ['challenge_reset', { player_id: P, amount: '99', currency: 'USD' }, { amount: '99' }],
    ['challenge_refund', { player_id: P, amount: '155', currency: 'USD' }, { amount: '155' }],
    ['challenge_funded', { player_id: P, challenge_id: 'CH-9' }, { details: { challenge_id: 'CH-9' } }],
    ['chargeback', { player_id: P, amount: '40.10', currency: 'EUR', ref_event_id: 'dep-1' }, { amount: '40.10', details: { ref_event_id: 'dep-1' } }],
    ['refund', { player_id: P, amount: '5', currency: 'EUR' }, { amount: '5' }],
  ])('%s', async (event, fields, want) => {
    const before = await messages()
    const event_id = eid()
    const r = await postJson({ source: src.token.id, token: src.token.secret, event, event_id, ...fields })
    expect(r.status).toBe(200)
    expect(await r.json()).toMatchObject({ status: 'accepted', event, event_id })
    expect(await messages()).toBe(before + 1)
    const m = await last()
    expect(m.subject).toMatch(new RegExp(`^ev\\.\\d+\\.${event}$`))
    expect(m.event).toMatchObject({ kind: event, eventId: event_id, sourceId: src.token.id, ...want })
  })
})

describe('authentication: refused before anything is published', () => {
  const ftd = () => ({ event: 'ftd', event_id: eid(), player_id: 'p', amount: '10', currency: 'EUR' })

  it.each<[string, () => Promise<Response>, number, RegExp]>([
    ['a wrong token', () => postJson({ ...ftd(), source: src.token.id, token: 'not-the-token' }), 401, /wrong token/],
    ['no token', () => postJson({ ...ftd(), source: src.token.id }), 401, /token required/],
    ['an unknown source', () => postJson({ ...ftd(), source: 987654, token: src.token.secret }), 401, /unknown source/],
    ['a token sent to an HMAC source', () => postJson({ ...ftd(), source: src.hmac.id, token: src.hmac.secret }), 401, /signature required/],
    [
      'a bad signature',
      () => {
        const body = JSON.stringify({ ...ftd(), source: src.hmac.id })
        return postJson(body, signed('some other secret', body))
      },
      401,
      /bad signature/,
    ],
    [
      'a body changed after signing',
      () => {
        const body = JSON.stringify({ ...ftd(), source: src.hmac.id })
        return postJson(body.replace('"10"', '"1000"'), signed(src.hmac.secret, body))
      },
      401,
      /bad signature/,
    ],
    [
      'a stale timestamp (6 minutes old)',
      () => {
        const body = JSON.stringify({ ...ftd(), source: src.hmac.id })
        return postJson(body, signed(src.hmac.secret, body, Math.floor(Date.now() / 1000) - 360))
      },
      401,
      /stale or future timestamp/,
    ],
    [
      'a timestamp from the future (6 minutes ahead)',
      () => {
        const body = JSON.stringify({ ...ftd(), source: src.hmac.id })
        return postJson(body, signed(src.hmac.secret, body, Math.floor(Date.now() / 1000) + 360))
      },
      401,
      /stale or future timestamp/,
    ],
    ['an address not on the allow-list', () => postJson({ ...ftd(), source: src.walled.id, token: src.walled.secret }), 403, /not on this source's allow-list/],
  ])('refuses %s', async (_n, send, status, reason) => {
    const before = await messages()
    const r = await send()
    expect(r.status).toBe(status)
    expect(((await r.json()) as { reason: string }).reason).toMatch(reason)
    expect(await messages()).toBe(before)
  })

  it('accepts a signed JSON body, and a replay of it within the window gets the first answer', async () => {
    const body = JSON.stringify({ ...ftd(), source: src.hmac.id })
    const headers = signed(src.hmac.secret, body)
    const before = await messages()
    const a = await postJson(body, headers)
    expect(a.status).toBe(200)
    const b = await postJson(body, headers)
    expect(await b.json()).toEqual(await a.json())
    expect(await messages()).toBe(before + 1)
  })

  it('accepts a signed GET (the signature covers the raw query string) and a signed form POST', async () => {
    const q = new URLSearchParams({ source: String(src.hmac.id), event: 'registration', event_id: eid(), player_id: 'p-get' }).toString()
    const g = await fetch(`${app.url}/postback?${q}`, { headers: signed(src.hmac.secret, q) })
    expect(g.status).toBe(200)
    const tampered = q.replace('p-get', 'p-other')
    expect((await fetch(`${app.url}/postback?${tampered}`, { headers: signed(src.hmac.secret, q) })).status).toBe(401)
    const form = new URLSearchParams({ source: String(src.hmac.id), event: 'registration', event_id: eid(), player_id: 'p-form' }).toString()
    const f = await fetch(`${app.url}/postback`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...signed(src.hmac.secret, form) }, body: form })
    expect(f.status).toBe(200)
    expect((await last()).event).toMatchObject({ kind: 'registration', playerId: 'p-form' })
  })

  it('accepts the source id in a header, and a sha256= prefixed signature', async () => {
    const body = JSON.stringify(ftd())
    const h = signed(src.hmac.secret, body)
    const r = await postJson(body, { ...h, 'x-signature': `sha256=${h['x-signature']}`, 'x-postback-source': String(src.hmac.id) })
    expect(r.status).toBe(200)
  })

  it('lets an allowed address in', async () => {
    const r = await postJson({ ...ftd(), source: src.open.id, token: src.open.secret })
    expect(r.status).toBe(200)
  })

  it('checks who asks before validating: a bad body from a stranger is a 401, not a 400', async () => {
    const r = await postJson({ source: src.token.id, token: 'wrong', event: 'nonsense' })
    expect(r.status).toBe(401)
  })
})

describe('field and event mappings', () => {
  it("takes a platform's own parameter and event names", async () => {
    const before = await messages()
    const q = new URLSearchParams({ source: String(src.mapped.id), token: src.mapped.secret, type: 'first_dep', txn: 'T-1001', userid: 'U-5', sum: '30.5', cur: 'gbp' })
    const r = await fetch(`${app.url}/postback?${q}`)
    expect(r.status).toBe(200)
    expect(await r.json()).toMatchObject({ status: 'accepted', event: 'ftd', event_id: 'T-1001' })
    expect(await messages()).toBe(before + 1)
    expect((await last()).event).toMatchObject({ kind: 'ftd', eventId: 'T-1001', playerId: 'U-5', amount: '30.5', currency: 'GBP' })
  })

  it('names the mapped field in a validation error', async () => {
    const q = new URLSearchParams({ source: String(src.mapped.id), token: src.mapped.secret, type: 'dep', txn: 'T-1002', userid: 'U-5', cur: 'GBP' })
    const r = await fetch(`${app.url}/postback?${q}`)
    expect(r.status).toBe(400)
    expect(((await r.json()) as { fields: Record<string, string> }).fields).toMatchObject({ amount: 'is required for a deposit' })
  })

  it('an operator changes the mapping and the allow-list; ingest follows within moments', async () => {
    await store.sources.update(src.mapped.id, { fieldMap: { player_id: 'uid', event_id: 'txn', amount: 'sum', currency: 'cur', event: 'type' } }, Date.now())
    await new Promise((r) => setTimeout(r, 300))
    const q = new URLSearchParams({ source: String(src.mapped.id), token: src.mapped.secret, type: 'signup', txn: 'T-1003', uid: 'U-6' })
    const r = await fetch(`${app.url}/postback?${q}`)
    expect(r.status).toBe(200)
    expect((await last()).event).toMatchObject({ kind: 'registration', playerId: 'U-6' })
    await store.sources.update(src.mapped.id, { ipAllow: ['192.0.2.0/24'] }, Date.now())
    await new Promise((r) => setTimeout(r, 300))
    const denied = await fetch(`${app.url}/postback?${q.toString().replace('T-1003', 'T-1004')}`)
    expect(denied.status).toBe(403)
  })
})
