/**
 * Fraud end to end, over HTTP to an embedded app: clicks from one device past its limit and a
 * datacenter click are stored as filtered and found; a sixth registration from one address
 * holds its player's CPA, which the review queue lists and an approval releases onto the
 * ledger once; an injected registration (3 s after its click) has its CPA rejected, never
 * payable; the affiliate sees its own findings, appeals one, and reads the answer; another
 * affiliate sees none of it.
 */
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, spawnEmbedded, waitFor, type EmbeddedApp } from './helpers/app.js'
import { awayFromMinuteEdge, BROWSER_UA, postback, setupProgram, type Program } from './helpers/scenario.js'

let app: EmbeddedApp
let prog: Program

beforeAll(async () => {
  // every rule on, CTIT off for the first part (registrations here come moments after their clicks)
  app = await spawnEmbedded('fraud', { FRAUD_SETTINGS: '{"ctitMinSeconds":0}', TRUST_PROXY: 'true' })
  prog = await setupProgram(app.call)
}, 90_000)
afterAll(async () => app?.dispose())

const click = async (code: string, ip: string, ua = BROWSER_UA, query = '') => {
  const r = await fetch(`${app.url}/c/${code}${query}`, { redirect: 'manual', headers: { 'x-forwarded-for': ip, 'user-agent': ua } })
  expect(r.status).toBe(302)
  return new URL(r.headers.get('location')!).searchParams.get('cid')!
}

type Finding = {
  eventId: string
  kind: string
  reason: string
  action: string
  score: number
  evidence: Record<string, unknown>
  affiliateId: number
  playerRef: string
  shadow: boolean
}
const findings = async (q = '', call = app.call) => (await call<{ items: Finding[] }>('GET', `/api/fraud/findings${q}`)).body.items
type Line = { id: string; kind: string; status: string; amount: string; playerRef: string; reason: string; refLineId?: string }
const ledger = async (aff: number) => (await app.call<{ items: Line[] }>('GET', `/api/ledger?affiliateId=${aff}`)).body.items

describe('fraud, live and on the money', () => {
  it('clicks past the device limit and a datacenter click are stored as filtered, with their reasons and evidence', async () => {
    const alpha = prog.links[0]!
    await awayFromMinuteEdge()
    for (let i = 0; i < 13; i++) await click(alpha.code, '203.0.113.9')
    await click(alpha.code, '3.5.140.2') // Amazon
    const got = await waitFor(
      'click findings',
      () => findings(`?affiliateId=${alpha.affiliateId}&kind=click`),
      (f) => f.filter((x) => x.reason === 'click_flood').length === 3 && f.some((x) => x.reason === 'hosting_ip'),
      20_000,
    )
    const flood = got.find((x) => x.reason === 'click_flood')!
    expect(flood).toMatchObject({ action: 'filter', evidence: { key: 'device', limitPerMinute: 10 } })
    expect(got.find((x) => x.reason === 'hosting_ip')).toMatchObject({ action: 'filter', evidence: { asn: 16509 } })
    const s = await app.call<{ clicks: { counted: number; filtered: number }; byReason: { reason: string; findings: number }[] }>(
      'GET',
      '/api/fraud/summary?minutes=30',
    )
    expect(s.body.clicks).toEqual({ counted: 10, filtered: 4 })
    expect(s.body.byReason.find((r) => r.reason === 'click_flood')?.findings).toBe(3)
  })

  it('a sixth registration from one address holds its CPA until the fraud team approves it; the release is paid once', async () => {
    const alpha = prog.links[0]!
    for (let i = 1; i <= 6; i++) {
      const cid = await click(alpha.code, `198.51.100.${i}`)
      expect(
        (await postback(app.url, prog, { event: 'registration', event_id: `ma-reg-${i}`, click_id: cid, player_id: `ma-${i}`, ip: '192.0.2.50' })).status,
      ).toBe(200)
      expect((await postback(app.url, prog, { event: 'ftd', event_id: `ma-ftd-${i}`, player_id: `ma-${i}`, amount: '50', currency: 'EUR' })).status).toBe(200)
    }
    const lines = await waitFor(
      'six CPAs',
      () => ledger(alpha.affiliateId),
      (ls) => ls.filter((l) => l.kind === 'cpa').length === 6,
      20_000,
    )
    const held = lines.filter((l) => l.kind === 'cpa' && l.status === 'held')
    expect(held).toHaveLength(1)
    expect(held[0]!.reason).toMatch(/^Held for fraud review \(multi_account\)/)
    const f = (await findings(`?affiliateId=${alpha.affiliateId}&reason=multi_account`))[0]!
    expect(f).toMatchObject({ action: 'hold', evidence: { key: 'ip', registrationsToday: 6, limitPerDay: 5 } })

    const queue = await app.call<{ items: { affiliateId: number; playerKey: string; playerRef: string; status: string; amount: string; reasons: string }[] }>(
      'GET',
      '/api/fraud/queue',
    )
    const item = queue.body.items.find((i) => i.affiliateId === alpha.affiliateId && i.status === 'held')!
    expect(item).toMatchObject({ amount: '100', reasons: 'multi_account', playerRef: held[0]!.playerRef })
    const who = { affiliateId: item.affiliateId, playerKey: item.playerKey, playerRef: item.playerRef }
    const bad = await app.call('POST', '/api/fraud/reviews', { items: [who], decision: 'approve', note: '' })
    expect(bad.status).toBe(400)
    const ok = await app.call('POST', '/api/fraud/reviews', { items: [who], decision: 'approve', note: 'one household, checked by phone' })
    expect(ok.status).toBe(202)
    const after = await waitFor(
      'the release',
      () => ledger(alpha.affiliateId),
      (ls) => ls.some((l) => l.id === `ok:${held[0]!.id}`),
      20_000,
    )
    expect(after.find((l) => l.id === `rel:${held[0]!.id}`)).toMatchObject({ kind: 'reversal', amount: '-100', refLineId: held[0]!.id })
    expect(after.find((l) => l.id === `ok:${held[0]!.id}`)).toMatchObject({ kind: 'cpa', status: 'payable', amount: '100' })
    // decided: out of the queue; deciding again releases nothing more
    expect((await app.call<{ items: { playerKey: string }[] }>('GET', '/api/fraud/queue')).body.items.some((i) => i.playerKey === item.playerKey)).toBe(false)
    await app.call('POST', '/api/fraud/reviews', { items: [who], decision: 'approve', note: 'clicked twice' })
    await new Promise((r) => setTimeout(r, 1500))
    expect((await ledger(alpha.affiliateId)).filter((l) => l.id.startsWith('ok:'))).toHaveLength(1)
    const audit = await app.call<{ items: { entity: string; note?: string }[] }>('GET', '/api/audit?entity=fraud_review')
    expect(audit.body.items.some((a) => a.note === 'one household, checked by phone')).toBe(true)
  })

  it('with CTIT on, a registration 3 s after its click is rejected: its CPA is never payable; the affiliate sees the flag, appeals, and reads the answer', async () => {
    const put = await app.call('PUT', '/api/fraud/settings', { ctitMinSeconds: 15 })
    expect(put.status).toBe(200)
    const alpha = prog.links[0]!
    const cid = await click(alpha.code, '198.51.100.77')
    await new Promise((r) => setTimeout(r, 3000))
    await postback(app.url, prog, { event: 'registration', event_id: 'inj-reg', click_id: cid, player_id: 'inj-1' })
    await postback(app.url, prog, { event: 'ftd', event_id: 'inj-ftd', player_id: 'inj-1', amount: '50', currency: 'EUR' })
    const lines = await waitFor(
      'the injected CPA',
      () => ledger(alpha.affiliateId),
      (ls) => ls.some((l) => l.kind === 'cpa' && l.status === 'rejected'),
      20_000,
    )
    expect(lines.find((l) => l.status === 'rejected')!.reason).toMatch(/^Rejected as fraud \(ctit_too_short\)/)

    const token = (await app.call('POST', `/api/affiliates/${alpha.affiliateId}/tokens`, {})).body.token as string
    const asAlpha = api(app.url, token)
    const own = await findings('', asAlpha)
    const inj = own.find((f) => f.reason === 'ctit_too_short' && f.kind === 'registration')!
    expect(inj).toMatchObject({ eventId: expect.stringContaining('inj-reg'), action: 'reject' })
    expect(Number(inj.evidence.ctitSeconds)).toBeGreaterThanOrEqual(3)
    expect(own.every((f) => f.affiliateId === alpha.affiliateId)).toBe(true)

    const appeal = await asAlpha<{ id: string }>('POST', '/api/fraud/appeals', {
      eventId: inj.eventId,
      message: 'our landing page auto-submits the sign-up form',
    })
    expect(appeal.status).toBe(201)
    const q = await app.call<{
      appeals: { id: string; message: string }[]
      items: { playerRef: string; playerKey: string; affiliateId: number; status: string }[]
    }>('GET', '/api/fraud/queue')
    expect(q.body.appeals.map((a) => a.id)).toContain(appeal.body.id)
    const r = q.body.items.find((i) => i.status === 'rejected' && i.playerRef === inj.playerRef)!
    const rejected = { affiliateId: r.affiliateId, playerKey: r.playerKey, playerRef: r.playerRef }
    const answer = await app.call('POST', '/api/fraud/reviews', {
      items: [rejected],
      decision: 'reject',
      note: 'an auto-submitted form is still not a visitor’s sign-up',
      appealId: appeal.body.id,
    })
    expect(answer.status).toBe(202)
    const mine = await asAlpha<{ items: { id: string; status: string; answer?: { decision: string; note: string } }[] }>('GET', '/api/fraud/appeals')
    expect(mine.body.items.find((a) => a.id === appeal.body.id)).toMatchObject({ status: 'answered', answer: { decision: 'reject' } })

    // another affiliate sees none of it
    const beta = prog.links[1]!
    const asBeta = api(app.url, (await app.call('POST', `/api/affiliates/${beta.affiliateId}/tokens`, {})).body.token as string)
    expect((await asBeta('GET', `/api/fraud/findings?affiliateId=${alpha.affiliateId}`)).status).toBe(403)
    expect((await findings('', asBeta)).length).toBe(0)
    expect((await asBeta('POST', '/api/fraud/appeals', { eventId: inj.eventId, message: 'mine' })).status).toBe(404)
    expect((await asBeta('GET', '/api/fraud/queue')).status).toBe(403)
    expect((await asBeta('POST', '/api/fraud/reviews', { items: [rejected], decision: 'approve', note: 'x' })).status).toBe(403)
  })

  it("an affiliate's own settings: its traffic is judged by them from now on, other affiliates' by the program's", async () => {
    type Settings = { settings: Record<string, unknown> & { shadow: Record<string, boolean> }; affiliates: { affiliateId: number; overrides: Record<string, unknown> }[] }
    const alpha = prog.links[0]!
    const beta = prog.links[1]!
    // a change names only what it changes: the rest, shadow mode included, stays
    expect((await app.call('PUT', '/api/fraud/settings', { shadow: { bonus_abuse: true }, ctitMinSeconds: 20 })).status).toBe(200)
    expect((await app.call('PUT', '/api/fraud/settings', { registrationsPerKeyPerDay: 6 })).status).toBe(200)
    const program = (await app.call<Settings>('GET', '/api/fraud/settings')).body.settings
    expect(program).toMatchObject({ ctitMinSeconds: 20, registrationsPerKeyPerDay: 6, clicksPerDevicePerMinute: 10, shadow: { bonus_abuse: true } })

    // bad input is refused with its reason
    const path = `/api/fraud/settings/affiliates/${beta.affiliateId}`
    const neg = await app.call<{ fields?: Record<string, string> }>('PUT', path, { clicksPerDevicePerMinute: -1 })
    expect(neg.status).toBe(400)
    expect(Object.keys(neg.body.fields ?? {})).toEqual(['clicksPerDevicePerMinute'])
    expect((await app.call('PUT', path, { clicksPerMinute: 5 })).status).toBe(400)
    expect((await app.call('PUT', '/api/fraud/settings/affiliates/999999', {})).status).toBe(404)
    const asBeta = api(app.url, (await app.call('POST', `/api/affiliates/${beta.affiliateId}/tokens`, {})).body.token as string)
    expect((await asBeta('PUT', path, { clicksPerDevicePerMinute: 1000 })).status).toBe(403)
    expect((await asBeta('GET', path)).status).toBe(403)

    const set = await app.call<{ effective: Record<string, unknown> }>('PUT', path, { clicksPerDevicePerMinute: 20, shadow: { hosting_ip: true } })
    expect(set.status).toBe(200)
    expect(set.body.effective).toMatchObject({ clicksPerDevicePerMinute: 20, ctitMinSeconds: 20, shadow: { bonus_abuse: true, hosting_ip: true } })
    expect((await app.call<Settings>('GET', '/api/fraud/settings')).body.affiliates).toEqual([
      expect.objectContaining({ affiliateId: beta.affiliateId, overrides: { clicksPerDevicePerMinute: 20, shadow: { hosting_ip: true } } }),
    ])

    // beta watches live: its own findings come, a rule's in shadow mode do not
    const ws = new WebSocket(`${app.url.replace('http', 'ws')}/ws`)
    const frames: { type: string; findings?: { reason: string; affiliateId: number }[] }[] = []
    ws.on('message', (m) => frames.push(JSON.parse(String(m))))
    await new Promise((r) => ws.on('open', r))
    ws.send(JSON.stringify({ type: 'auth', token: (await app.call('POST', `/api/affiliates/${beta.affiliateId}/tokens`, {})).body.token }))
    await waitFor('hello', async () => frames.map((f) => f.type), (t) => t.includes('hello'), 10_000)

    // 13 clicks from one device each: alpha's last 3 are a flood, beta's none; beta's datacenter click is found in shadow and counts
    await awayFromMinuteEdge()
    const since = `&from=${encodeURIComponent(new Date(Date.now() - 1000).toISOString())}`
    for (let i = 0; i < 13; i++) await click(alpha.code, '203.0.113.31')
    for (let i = 0; i < 13; i++) await click(beta.code, '203.0.113.32')
    await click(beta.code, '34.120.1.1') // Google Cloud
    await click(beta.code, '203.0.113.33', 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)')
    const got = await waitFor(
      "alpha's flood and beta's datacenter finding",
      async () => [
        ...(await findings(`?affiliateId=${alpha.affiliateId}&reason=click_flood${since}`)),
        ...(await findings(`?affiliateId=${beta.affiliateId}&kind=click${since}`)),
      ],
      (f) => f.some((x) => x.reason === 'hosting_ip' && x.affiliateId === beta.affiliateId) && f.filter((x) => x.affiliateId === alpha.affiliateId).length >= 3,
      20_000,
    )
    expect(got.filter((x) => x.affiliateId === alpha.affiliateId).map((x) => x.evidence.clicksThisMinute)).toEqual([13, 12, 11])
    expect(got.filter((x) => x.affiliateId === beta.affiliateId && x.reason === 'click_flood')).toHaveLength(0)
    const trial = got.find((x) => x.affiliateId === beta.affiliateId && x.reason === 'hosting_ip')!
    expect(trial).toMatchObject({ shadow: true })
    // a rule in shadow mode is the fraud team's trial: the affiliate does not see it, on the page or live
    expect((await findings(`?kind=click${since}`, asBeta)).some((x) => x.eventId === trial.eventId)).toBe(false)
    const live = await waitFor(
      "beta's bot click, live",
      async () => frames.flatMap((f) => (f.type === 'fraud' ? (f.findings ?? []) : [])),
      (fs) => fs.some((x) => x.reason === 'bot'),
      20_000,
    )
    expect(live.every((x) => x.affiliateId === beta.affiliateId)).toBe(true)
    expect(live.map((x) => x.reason)).not.toContain('hosting_ip')
    ws.close()

    // removed: the program's settings again
    expect((await app.call('PUT', path, {})).status).toBe(200)
    const back = await app.call<{ overrides: object; effective: Record<string, unknown>; versions: unknown[] }>('GET', path)
    expect(back.body).toMatchObject({ overrides: {}, effective: { clicksPerDevicePerMinute: 10, shadow: { bonus_abuse: true } } })
    expect(back.body.versions).toHaveLength(2)
    expect((await app.call<Settings>('GET', '/api/fraud/settings')).body.affiliates).toEqual([])
  })
})
