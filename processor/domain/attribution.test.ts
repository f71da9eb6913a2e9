import { describe, expect, it } from 'vitest'
import { ClickIdSigner } from '../../common/clickid.js'
import { CLOCK_SKEW_MS, resolveClick, UNATTRIBUTED_REASONS, windowAt, type ClickResolution } from './attribution.js'

const signer = new ClickIdSigner('attribution-test-click-secret')
const forger = new ClickIdSigner('some-other-secret-entirely-xx')
const verify = (id: string) => signer.verify(id)

const DAY = 86_400_000
const WINDOW = 30 * DAY
const T = 1_750_000_000_000 // event time
const claims = { linkId: 11, affiliateId: 7, offerId: 2 }

const clickAt = (ts: number) => signer.issue({ ts, ...claims })
const tamper = (id: string) => id.slice(0, 20) + (id[20] === 'A' ? 'B' : 'A') + id.slice(21)

function attributed(clickId: string, clickTs: number): ClickResolution {
  return { ok: true, attribution: { affiliateId: 7, linkId: 11, offerId: 2, clickId, clickTs } }
}

describe('resolveClick', () => {
  it('has a 5 minute clock skew allowance', () => expect(CLOCK_SKEW_MS).toBe(300_000))

  const fresh = clickAt(T - 60_000)
  const atEdge = clickAt(T - WINDOW)
  const justExpired = clickAt(T - WINDOW - 1)
  const longExpired = clickAt(T - 365 * DAY)
  const sameMs = clickAt(T)
  const withinSkew = clickAt(T + CLOCK_SKEW_MS)
  const slightlyAhead = clickAt(T + 1_000)
  const beyondSkew = clickAt(T + CLOCK_SKEW_MS + 1)
  const farFuture = clickAt(T + DAY)
  const forged = forger.issue({ ts: T - 60_000, ...claims })

  it.each<[string, string | undefined, ClickResolution]>([
    ['no click id (undefined)', undefined, { ok: false, reason: 'no_click_id' }],
    ['no click id (empty string)', '', { ok: false, reason: 'no_click_id' }],
    ['malformed: not a click id', 'hello', { ok: false, reason: 'malformed_click_id' }],
    ['malformed: truncated', fresh.slice(0, 40), { ok: false, reason: 'malformed_click_id' }],
    ['malformed: bad characters', fresh.slice(0, 51) + '!', { ok: false, reason: 'malformed_click_id' }],
    ['forged: signed with another secret', forged, { ok: false, reason: 'bad_signature' }],
    ['tampered: one character changed', tamper(fresh), { ok: false, reason: 'bad_signature' }],
    ['valid, one minute old', fresh, attributed(fresh, T - 60_000)],
    ['valid, same millisecond', sameMs, attributed(sameMs, T)],
    ['exactly at the window edge (eventTs − ts = windowMs)', atEdge, attributed(atEdge, T - WINDOW)],
    ['one ms past the window', justExpired, { ok: false, reason: 'click_expired' }],
    ['a year old', longExpired, { ok: false, reason: 'click_expired' }],
    ['1 s in the future (within skew)', slightlyAhead, attributed(slightlyAhead, T + 1_000)],
    ['exactly CLOCK_SKEW_MS in the future', withinSkew, attributed(withinSkew, T + CLOCK_SKEW_MS)],
    ['one ms beyond the skew', beyondSkew, { ok: false, reason: 'click_in_future' }],
    ['a day in the future', farFuture, { ok: false, reason: 'click_in_future' }],
  ])('%s', (_name, clickId, want) => {
    expect(resolveClick(verify, clickId, T, WINDOW)).toEqual(want)
  })

  it('checks the signature before the time (a forged expired click says bad_signature)', () => {
    const forgedOld = forger.issue({ ts: T - 365 * DAY, ...claims })
    expect(resolveClick(verify, forgedOld, T, WINDOW)).toEqual({ ok: false, reason: 'bad_signature' })
  })

  it('honours the window it is given', () => {
    const c = clickAt(T - 2 * DAY)
    expect(resolveClick(verify, c, T, DAY).ok).toBe(false)
    expect(resolveClick(verify, c, T, 2 * DAY).ok).toBe(true)
    expect(resolveClick(verify, c, T, 0)).toEqual({ ok: false, reason: 'click_expired' })
  })

  it('judges by the event time, not the wall clock (a replay decides the same)', () => {
    const old = clickAt(1_000_000)
    expect(resolveClick(verify, old, 1_000_000 + DAY, WINDOW).ok).toBe(true)
  })

  it('takes the affiliate, link and offer from the signed id', () => {
    const id = signer.issue({ ts: T, linkId: 99, affiliateId: 12345, offerId: 0 })
    expect(resolveClick(verify, id, T, WINDOW)).toEqual({
      ok: true,
      attribution: { affiliateId: 12345, linkId: 99, offerId: 0, clickId: id, clickTs: T },
    })
  })

  it('every reason it returns is in the closed set', () => {
    const reasons = new Set<string>()
    for (const id of [undefined, 'x', forged, justExpired, beyondSkew]) {
      const r = resolveClick(verify, id, T, WINDOW)
      if (!r.ok) reasons.add(r.reason)
    }
    expect([...reasons].sort()).toEqual(['bad_signature', 'click_expired', 'click_in_future', 'malformed_click_id', 'no_click_id'])
    for (const r of reasons) expect(UNATTRIBUTED_REASONS).toContain(r)
  })
})

describe('attribution window per offer', () => {
  // the click is for offer 2 (claims above); offer 2 allows 7 days, others the default 30
  const windowOf = (offerId: number) => (offerId === 2 ? 7 * DAY : WINDOW)
  it.each<[string, number, boolean]>([
    ['6 days after the click: inside the offer window', T - 6 * DAY, true],
    ['exactly 7 days: inside', T - 7 * DAY, true],
    ['8 days: past the offer window (inside the default 30)', T - 8 * DAY, false],
  ])('%s', (_n, clickTs, ok) => {
    const r = resolveClick(verify, clickAt(clickTs), T, windowOf)
    expect(r.ok).toBe(ok)
    if (!ok) expect(r).toEqual({ ok: false, reason: 'click_expired' })
  })

  it("another offer's clicks keep the default", () => {
    const other = signer.issue({ ts: T - 20 * DAY, ...claims, offerId: 3 })
    expect(resolveClick(verify, other, T, windowOf).ok).toBe(true)
  })
})

describe('windowAt: the window version in force at a time', () => {
  const v = (days: number | null, effectiveFrom: number) => ({ days, effectiveFrom })
  const history = [v(30, 1_000), v(7, 2_000), v(null, 3_000), v(14, 4_000)]
  it.each<[string, readonly { days: number | null; effectiveFrom: number }[], number, number]>([
    ['no versions: the default', [], 5_000, 45],
    ['before the first version: the default (the offer had no window of its own then)', history, 999, 45],
    ['at the first version', history, 1_000, 30],
    ['between two versions: the earlier one', history, 1_999, 30],
    ['at a change: the new one (effective from its time)', history, 2_000, 7],
    ['a version that cleared the window: the default', history, 3_500, 45],
    ['after the last version: the last', history, 9_999, 14],
    ['stored out of order: by effectiveFrom', [v(14, 4_000), v(30, 1_000), v(7, 2_000)], 2_500, 7],
    ['two at the same time: the one stored later', [v(30, 1_000), v(7, 1_000)], 1_000, 7],
  ])('%s', (_n, versions, t, want) => {
    expect(windowAt(versions, t, 45)).toBe(want)
  })
})

describe('resolveClick: the window chosen by the click', () => {
  it("passes the click's offer and time to the window", () => {
    const seen: [number, number][] = []
    const c = clickAt(T - 10 * DAY)
    expect(resolveClick(verify, c, T, (offerId, clickTs) => (seen.push([offerId, clickTs]), 7 * DAY))).toEqual({ ok: false, reason: 'click_expired' })
    expect(seen).toEqual([[2, T - 10 * DAY]])
  })
})
