/**
 * The golden set: the traffic simulator's labelled traffic (scripts/fraud-traffic.ts), one
 * pattern per signal that can be produced live, mixed into clean traffic, sent over HTTP to an
 * embedded app with every rule on at DOMAIN's defaults. Each pattern is caught with the
 * expected reason and action; clean traffic is flagged at a rate below 1%.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PATTERNS, sendTraffic, type Label } from '../scripts/fraud-traffic.js'
import { ClickIdSigner } from '../common/clickid.js'
import { spawnEmbedded, waitFor, type EmbeddedApp } from './helpers/app.js'
import { TEST_SECRETS } from './helpers/config.js'

let app: EmbeddedApp
let labels: Label[] = []
type Finding = { eventId: string; reason: string; action: string; shadow: boolean }
let found: Finding[] = []
/** click spamming: an affiliate whose registrations come two days after their clicks */
let spammer = 0
const SPAM = 24

beforeAll(async () => {
  // every rule on at DOMAIN's defaults (CTIT 15 s included)
  app = await spawnEmbedded('fraud-golden', { FRAUD_SETTINGS: '{}', TRUST_PROXY: 'true' })
  const aff = (await app.call('POST', '/api/affiliates', { name: 'Golden Media', email: 'Owner@Golden.example' })).body
  const offer = (
    await app.call('POST', '/api/offers', {
      name: 'Casino DACH',
      destination: 'https://brand.example/?cid={click_id}',
      markets: ['DE', 'AT', 'CH'],
      paidSearch: 'forbidden',
    })
  ).body
  expect(offer.paidSearch).toBe('forbidden')
  const link = (await app.call('POST', '/api/links', { affiliateId: aff.id, offerId: offer.id })).body
  expect((await app.call('POST', '/api/deals/cpa', { affiliateId: aff.id, amount: '100', currency: 'EUR' })).status).toBe(201)
  const src = (await app.call('POST', '/api/sources', { name: 'golden casino' })).body as { id: number; token: string }
  labels = await sendTraffic(
    { url: app.url, source: { id: src.id, token: src.token }, link: { code: link.code, affiliateId: aff.id, email: 'owner@golden.example' } },
    { clean: 300, patterns: PATTERNS, seed: 7, run: 'g' },
  )
  // click spamming: clicks made two days before the registrations they are credited with (the
  // live simulator cannot wait days; the click ids are signed as ingest signed them then)
  const created = await app.call('POST', '/api/affiliates', { name: 'Spam Clicks' })
  expect(created.status, JSON.stringify(created.body)).toBe(201)
  spammer = created.body.id
  const spamLink = (await app.call('POST', '/api/links', { affiliateId: spammer, destination: 'https://brand.example/?cid={click_id}' })).body
  expect((await app.call('POST', '/api/deals/cpa', { affiliateId: spammer, amount: '100', currency: 'EUR' })).status).toBe(201)
  const signer = new ClickIdSigner(TEST_SECRETS.CLICK_SECRET)
  for (let i = 0; i < SPAM; i++) {
    const clickId = signer.issue({ ts: Date.now() - 2 * 86_400_000, linkId: spamLink.id, affiliateId: spammer, offerId: 0 })
    for (const body of [
      { event: 'registration', event_id: `spam-reg-${i}`, click_id: clickId, player_id: `spam-${i}` },
      { event: 'ftd', event_id: `spam-ftd-${i}`, player_id: `spam-${i}`, amount: '50', currency: 'EUR' },
    ]) {
      const r = await fetch(`${app.url}/postback`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-postback-token': src.token },
        body: JSON.stringify({ source: String(src.id), ...body }),
      })
      expect(r.status).toBe(200)
    }
  }
  await waitFor(
    'the processor caught up',
    async () => (await app.call('GET', '/api/status')).body.processor.lag,
    (n: number) => n === 0,
    60_000,
  )
  found = (await app.call<{ items: Finding[] }>('GET', '/api/fraud/findings?limit=1000')).body.items
}, 180_000)
afterAll(async () => app?.dispose())

describe('the golden set', () => {
  it.each(PATTERNS)('%s is caught with its reason and action', (p) => {
    const want = labels.filter((l) => l.pattern === p)
    expect(want.length, `the simulator sent ${p}`).toBeGreaterThan(0)
    for (const l of want) {
      const f = found.filter((x) => x.eventId === l.eventId && !x.shadow)
      expect(
        f.map((x) => [x.reason, x.action]),
        `${p}: ${l.kind} ${l.eventId}`,
      ).toContainEqual([l.reason, l.action])
    }
  })

  it('the fraud view ranks the flooding sub-id, with its findings, reasons and trend (new: nothing in the window before)', async () => {
    const s = await app.call<{ worstSubIds: { sub1: string; findings: number; previousScore: number; reasons: string[]; score: number }[] }>(
      'GET',
      '/api/fraud/summary?minutes=60',
    )
    expect(s.body.worstSubIds.find((x) => x.sub1 === 'flood')).toMatchObject({ findings: 15, previousScore: 0, reasons: ['click_flood'] })
    // clean sub-ids are not ranked (clean traffic may carry a rare finding; never most of them)
    expect(s.body.worstSubIds.filter((x) => ['seo', 'email', 'social'].includes(x.sub1)).every((x) => x.findings <= 3)).toBe(true)
  })

  it("late_conversions: once most of an affiliate's registrations come a day after their clicks, its new money is held", async () => {
    const lines = await waitFor(
      'the spammer’s CPAs',
      async () =>
        (await app.call<{ items: { kind: string; status: string; reason: string; playerRef: string }[] }>('GET', `/api/ledger?affiliateId=${spammer}`)).body
          .items,
      (ls) => ls.filter((l) => l.kind === 'cpa').length === SPAM,
      30_000,
    )
    const cpas = lines.filter((l) => l.kind === 'cpa')
    // the share is judged from the 20th registration on (fewer say nothing): its CPA and those after are held
    expect(cpas.map((l) => l.status)).toEqual(Array.from({ length: SPAM }, (_, i) => (i >= 19 ? 'held' : 'payable')))
    expect(cpas[19]!.reason).toMatch(/^Held for fraud review \(late_conversions\)/)
  })

  it('clean traffic is flagged at a rate below 1%', () => {
    const clean = labels.filter((l) => l.pattern === 'clean')
    expect(clean.length).toBeGreaterThan(300)
    const ids = new Set(found.map((f) => f.eventId))
    const flagged = clean.filter((l) => ids.has(l.eventId))
    expect(flagged.length / clean.length, `clean things with a finding: ${flagged.map((l) => l.eventId).join(', ')}`).toBeLessThan(0.01)
  })
})
