/**
 * The fraud rules, pure, table by table from DOMAIN's signals: each at its threshold, just past
 * it and well past it, with the action the ladder gives; and the decision over several findings
 * with rules in shadow mode.
 */
import { describe, expect, it } from 'vitest'
import { ctit } from './ctit.js'
import { decide, DEFAULT_FRAUD_SETTINGS as S, type Finding } from '../../../common/fraud/finding.js'
import { geoMismatch, paidSearch } from './landing.js'
import { lateShare } from './late-share.js'
import { registrationsPerKey } from './per-key.js'
import { rateAnomaly } from '../../../common/fraud/rate-anomaly.js'
import { selfReferral } from './self-referral.js'

const T0 = Date.UTC(2026, 10, 1, 12)

describe('click-to-conversion time (default: under 15 s rejects the attribution)', () => {
  it.each([
    ['injected at 3 s', 3, { reason: 'ctit_too_short', action: 'reject', score: 90 }],
    ['just under the line, 14.9 s', 14.9, { reason: 'ctit_too_short', action: 'reject', score: 50 }],
    ['exactly 15 s', 15, undefined],
    ['an hour', 3600, undefined],
    ['a conversion before its click (clocks): not this rule', -5, undefined],
  ])('%s', (_n, seconds, want) => {
    const f = ctit(T0, T0 + seconds * 1000, S)
    if (want === undefined) expect(f).toBeUndefined()
    else expect(f).toMatchObject({ ...want, evidence: { ctitSeconds: seconds, thresholdSeconds: 15 } })
  })
})

describe('late-conversion share (default: over 30% later than 24 h flags, then holds)', () => {
  it.each([
    ['35% late: flag', 20, 7, 'flag'],
    ['70% late: hold', 20, 14, 'hold'],
    ['exactly 30%: nothing', 20, 6, undefined],
    ['too few conversions to say', 10, 9, undefined],
  ] as const)('%s', (_n, conversions, late, action) => {
    const f = lateShare(conversions, late, S)
    if (action === undefined) expect(f).toBeUndefined()
    else expect(f).toMatchObject({ reason: 'late_conversions', action, evidence: { conversions, lateConversions: late, share: late / conversions } })
  })
})

describe('registrations per IP, device or payment hash per day (default: over 5 holds the CPA; a payment hash shared at all)', () => {
  it.each([
    ['5 from one IP', 'ip', 5, undefined],
    ['6 from one IP', 'ip', 6, 'multi_account'],
    ['8 from one device', 'device', 8, 'multi_account'],
    ['one player per payment hash', 'payment', 1, undefined],
    ['two players share a payment hash', 'payment', 2, 'shared_payment'],
  ] as const)('%s', (_n, kind, count, reason) => {
    const f = registrationsPerKey(kind, count, S)
    if (reason === undefined) expect(f).toBeUndefined()
    else expect(f).toMatchObject({ reason, action: 'hold', evidence: { key: kind, registrationsToday: count } })
  })
})

describe("what a click's landing says", () => {
  it('a paid-search click id flags only where the deal forbids paid search', () => {
    expect(paidSearch({ gclid: 'abc', utm_source: 'x' }, true)).toMatchObject({ reason: 'paid_search', action: 'flag', evidence: { clickIds: 'gclid' } })
    expect(paidSearch({ fbclid: 'a', msclkid: 'b' }, true)?.evidence).toEqual({ clickIds: 'fbclid, msclkid' })
    expect(paidSearch({ gclid: 'abc' }, false)).toBeUndefined()
    expect(paidSearch({ utm_source: 'x' }, true)).toBeUndefined()
  })
  it('an IP country outside the declared markets flags; every market, or no country known, says nothing', () => {
    expect(geoMismatch('FR', ['DE', 'AT'])).toMatchObject({ reason: 'geo_mismatch', action: 'flag', evidence: { country: 'FR', markets: 'DE, AT' } })
    expect(geoMismatch('DE', ['DE', 'AT'])).toBeUndefined()
    expect(geoMismatch('FR', [])).toBeUndefined()
    expect(geoMismatch('', ['DE'])).toBeUndefined()
  })
})

describe('self-referral (the affiliate is its own player)', () => {
  it.each([
    ['the same e-mail', { email: 'h1' }, { email: 'h1' }, 80],
    ['e-mail and device', { email: 'h1', device: 'd1' }, { email: 'h1', device: 'd1' }, 100],
    ['nothing in common', { email: 'h1', payment: 'p1' }, { email: 'h2', payment: 'p2' }, undefined],
    ['both unknown is not a match', { email: '' }, { email: '' }, undefined],
  ] as const)('%s', (_n, aff, player, score) => {
    const f = selfReferral(aff, player)
    if (score === undefined) expect(f).toBeUndefined()
    else expect(f).toMatchObject({ reason: 'self_referral', action: 'hold', score })
  })
})

describe("conversion-rate anomaly against the affiliate's own baseline (default: z over 3 flags)", () => {
  const weeks = [20, 22, 19, 21, 18].map((c) => ({ clicks: 1000, conversions: c }))
  it.each([
    ['a rate far above its baseline', { clicks: 1000, conversions: 50 }, true],
    ['a rate within it', { clicks: 1000, conversions: 21 }, false],
    ['no clicks now', { clicks: 0, conversions: 0 }, false],
  ])('%s', (_n, now, flagged) => {
    const f = rateAnomaly(now, weeks, S)
    if (!flagged) expect(f).toBeUndefined()
    else expect(f).toMatchObject({ reason: 'rate_anomaly', action: 'flag', evidence: { rate: 0.05, baselineMean: 0.02 } })
  })
  it('a baseline too short, or with no spread, says nothing', () => {
    expect(rateAnomaly({ clicks: 1000, conversions: 90 }, weeks.slice(0, 2), S)).toBeUndefined()
    expect(
      rateAnomaly(
        { clicks: 1000, conversions: 90 },
        [20, 20, 20].map((c) => ({ clicks: 1000, conversions: c })),
        S,
      ),
    ).toBeUndefined()
  })
})

describe('the decision over several findings', () => {
  const flag: Finding = { reason: 'geo_mismatch', score: 60, action: 'flag', evidence: {} }
  const hold: Finding = { reason: 'multi_account', score: 75, action: 'hold', evidence: {} }
  const reject: Finding = { reason: 'ctit_too_short', score: 95, action: 'reject', evidence: {} }
  it.each([
    ['none', [], {}, 'none', 0],
    ['the strongest action on the ladder', [flag, hold], {}, 'hold', 75],
    ['reject over hold', [hold, reject, flag], {}, 'reject', 95],
    ['a rule in shadow mode is scored and shown, and acts on nothing', [flag, reject], { ctit_too_short: true }, 'flag', 95],
    ['every rule in shadow: no action', [reject], { ctit_too_short: true }, 'none', 95],
  ] as const)('%s', (_n, findings, shadow, action, score) => {
    const d = decide(findings, { shadow })
    expect([d.action, d.score]).toEqual([action, score])
    expect(d.findings.map((f) => [f.reason, f.shadow])).toEqual(findings.map((f) => [f.reason, shadow[f.reason as keyof typeof shadow] === true]))
  })
})
