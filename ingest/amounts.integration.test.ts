/**
 * Amounts through the real /postback endpoint and a real nats-server: a JSON number keeps
 * every digit on the stream (query, form, JSON and HMAC-signed JSON alike), a number an
 * amount cannot take exactly is a 400 that says to send a string, and a replay that writes
 * the same amount differently (250.0 after 250.00) is a replay, not a conflict.
 */
import type { JetStreamManager, NatsConnection } from 'nats'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launch, type App } from '../launcher.js'
import { EntityStore } from '../common/entities.js'
import { connectNats } from '../common/nats.js'
import { EVENTS_STREAM } from '../common/subjects.js'
import { tempDir, TEST_SECRETS } from '../test/helpers/config.js'
import { startTestNats } from '../test/helpers/nats.js'
import { signPostback } from './postbacks.js'

let nats: Awaited<ReturnType<typeof startTestNats>>
let app: App
let nc: NatsConnection
let jsm: JetStreamManager
let token: { id: number; secret: string }
let hmac: { id: number; secret: string }

beforeAll(async () => {
  nats = await startTestNats()
  app = await launch(['--tier', 'ingest'], {
    NATS_URL: nats.url,
    DATA_DIR: tempDir('amounts'),
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    ...TEST_SECRETS,
  })
  nc = await connectNats(nats.url, 'test')
  jsm = await nc.jetstreamManager()
  const store = await EntityStore.open(nc)
  const t = await store.sources.create({ name: 'token' }, Date.now())
  const h = await store.sources.create({ name: 'hmac', auth: 'hmac' }, Date.now())
  token = { id: t.source.id, secret: t.secret }
  hmac = { id: h.source.id, secret: h.secret }
  await new Promise((r) => setTimeout(r, 300)) // the KV watch brings the sources to ingest
})

afterAll(async () => {
  await app?.stop()
  await nc?.close()
  await nats?.stop()
})

async function stored(seq: number): Promise<any> {
  const m = await jsm.streams.getMessage(EVENTS_STREAM, { seq })
  return JSON.parse(new TextDecoder().decode(m.data).trim())
}

const BIG = '99999999999999999.99'
let n = 0
const eid = () => `amt-${Date.now()}-${++n}`

const postRaw = (body: string, headers: Record<string, string> = {}) =>
  fetch(`${app.url}/postback`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body })

describe('an amount keeps every digit', () => {
  it('as a query parameter', async () => {
    const q = new URLSearchParams({
      source: String(token.id),
      token: token.secret,
      event: 'deposit',
      event_id: eid(),
      player_id: 'p1',
      amount: BIG,
      currency: 'EUR',
    })
    const r = await fetch(`${app.url}/postback?${q}`)
    expect(r.status).toBe(200)
    expect((await stored(((await r.json()) as any).seq)).amount).toBe(BIG)
  })

  it('in a form body', async () => {
    const r = await fetch(`${app.url}/postback`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-postback-token': token.secret },
      body: new URLSearchParams({ source: String(token.id), event: 'deposit', event_id: eid(), player_id: 'p1', amount: BIG, currency: 'EUR' }).toString(),
    })
    expect(r.status).toBe(200)
    expect((await stored(((await r.json()) as any).seq)).amount).toBe(BIG)
  })

  it('as a JSON number (JSON.parse would make it 100000000000000000), and in the detail fields', async () => {
    const r = await postRaw(
      `{"source": ${token.id}, "event": "activity", "event_id": "${eid()}", "player_id": "p1", "date": "2026-11-27", "currency": "EUR", "bets": ${BIG}, "wins": 0.10, "adjustments": -1e-7}`,
      { 'x-postback-token': token.secret },
    )
    expect(r.status).toBe(200)
    const ev = await stored(((await r.json()) as any).seq)
    expect(ev.details).toMatchObject({ bets: BIG, wins: '0.10', adjustments: '-0.0000001' })
    const d = await postRaw(`{"source": ${token.id}, "event": "ftd", "event_id": "${eid()}", "player_id": "p1", "amount": ${BIG}, "currency": "EUR"}`, {
      'x-postback-token': token.secret,
    })
    expect(d.status).toBe(200)
    expect((await stored(((await d.json()) as any).seq)).amount).toBe(BIG)
  })

  it('as a JSON number under a valid HMAC signature over the raw body', async () => {
    const body = `{"source": ${hmac.id}, "event": "deposit", "event_id": "${eid()}", "player_id": "p1", "amount": ${BIG}, "currency": "EUR"}`
    const ts = String(Math.floor(Date.now() / 1000))
    const r = await postRaw(body, { 'x-timestamp': ts, 'x-signature': signPostback(hmac.secret, ts, body) })
    expect(r.status).toBe(200)
    expect((await stored(((await r.json()) as any).seq)).amount).toBe(BIG)
  })
})

describe('a number an amount cannot take exactly', () => {
  it.each(['1.0000000000001', '1e25', '1e-400'])('%s is a 400 that says to send a string', async (num) => {
    const before = (await jsm.streams.info(EVENTS_STREAM)).state.messages
    const r = await postRaw(`{"source": ${token.id}, "event": "deposit", "event_id": "${eid()}", "player_id": "p1", "amount": ${num}, "currency": "EUR"}`, {
      'x-postback-token': token.secret,
    })
    expect(r.status).toBe(400)
    const body = (await r.json()) as any
    expect(body.error).toBe('invalid_postback')
    expect(body.fields.amount).toMatch(/send amounts as JSON strings/)
    expect((await jsm.streams.info(EVENTS_STREAM)).state.messages).toBe(before)
  })

  it('a body naming the amount twice is a 400', async () => {
    const r = await postRaw(
      `{"source": ${token.id}, "event": "deposit", "event_id": "${eid()}", "player_id": "p1", "amount": "1", "amount": "2", "currency": "EUR"}`,
      {
        'x-postback-token': token.secret,
      },
    )
    expect(r.status).toBe(400)
    expect(((await r.json()) as any).reason).toMatch(/Duplicate key 'amount'/)
  })
})

describe('replays compare amounts as decimals', () => {
  it('250.0 after 250.00 (and 5.50 after 5.5 in a detail) gets the first answer; 250.01 is a 409', async () => {
    const id = eid()
    const first = await postRaw(`{"source": ${token.id}, "event": "deposit", "event_id": "${id}", "player_id": "p1", "amount": "250.00", "currency": "EUR"}`, {
      'x-postback-token': token.secret,
    })
    expect(first.status).toBe(200)
    const answer = await first.json()
    const before = (await jsm.streams.info(EVENTS_STREAM)).state.messages
    for (const a of ['250.0', '"250.0"', '250', '"0250.000"']) {
      const again = await postRaw(`{"source": ${token.id}, "event": "deposit", "event_id": "${id}", "player_id": "p1", "amount": ${a}, "currency": "eur"}`, {
        'x-postback-token': token.secret,
      })
      expect(again.status, a).toBe(200)
      expect(await again.json()).toEqual(answer)
    }
    const changed = await postRaw(`{"source": ${token.id}, "event": "deposit", "event_id": "${id}", "player_id": "p1", "amount": 250.01, "currency": "EUR"}`, {
      'x-postback-token': token.secret,
    })
    expect(changed.status).toBe(409)
    expect((await jsm.streams.info(EVENTS_STREAM)).state.messages).toBe(before)
  })

  it('money details likewise', async () => {
    const id = eid()
    const act = (bets: string, fees: string) =>
      postRaw(
        `{"source": ${token.id}, "event": "activity", "event_id": "${id}", "player_id": "p1", "date": "2026-11-27", "currency": "EUR", "bets": ${bets}, "fees": ${fees}}`,
        {
          'x-postback-token': token.secret,
        },
      )
    const first = await act('"100.50"', '5.5')
    expect(first.status).toBe(200)
    const again = await act('100.5', '"5.50"')
    expect(again.status).toBe(200)
    expect(await again.json()).toEqual(await first.json())
    expect((await act('100.51', '5.5')).status).toBe(409)
  })
})
