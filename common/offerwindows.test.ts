/**
 * An offer's attribution window history: the store appends a version on every change of the
 * window, from the time of the change; nobody writes the history directly.
 */
import { describe, expect, it } from 'vitest'
import { OfferInputSchema, OfferSchema, patchOf, windowVersions, withWindowHistory, type Offer, type WindowVersion } from './entities.js'

const offer = (over: Partial<Offer> = {}): Offer => OfferSchema.parse({ id: 1, name: 'Spins', destination: 'https://x.example/', createdAt: 100, ...over })
const v = (days: number | null, effectiveFrom: number): WindowVersion => ({ days, effectiveFrom })

describe('withWindowHistory', () => {
  it.each<[string, Offer | undefined, Partial<Offer>, number, WindowVersion[] | undefined]>([
    ['created without a window: none (the default)', undefined, {}, 100, undefined],
    ['created with a window: from its creation', undefined, { attributionWindowDays: 30 }, 100, [v(30, 100)]],
    [
      'changed: appended from the time of the change',
      offer({ attributionWindowDays: 30, attributionWindows: [v(30, 100)] }),
      { attributionWindowDays: 7 },
      500,
      [v(30, 100), v(7, 500)],
    ],
    [
      'set to the value it has: nothing appended',
      offer({ attributionWindowDays: 30, attributionWindows: [v(30, 100)] }),
      { attributionWindowDays: 30 },
      500,
      [v(30, 100)],
    ],
    [
      'cleared: the default from then on',
      offer({ attributionWindowDays: 30, attributionWindows: [v(30, 100)] }),
      { attributionWindowDays: undefined },
      500,
      [v(30, 100), v(null, 500)],
    ],
    ['first set on an offer that had none', offer(), { attributionWindowDays: 14 }, 500, [v(14, 500)]],
    [
      'an offer stored before versions: its window stands from the beginning',
      offer({ attributionWindowDays: 14 }),
      { attributionWindowDays: 7 },
      500,
      [v(14, 0), v(7, 500)],
    ],
    ['an offer stored before versions, another field changed: left as it was', offer({ attributionWindowDays: 14 }), { name: 'Renamed' }, 500, undefined],
    [
      'a host whose clock lags: never before the last change',
      offer({ attributionWindowDays: 30, attributionWindows: [v(30, 900)] }),
      { attributionWindowDays: 7 },
      500,
      [v(30, 900), v(7, 900)],
    ],
  ])('%s', (_n, cur, change, now, want) => {
    const next = offer({ ...(cur ?? {}), ...change })
    expect(withWindowHistory(cur, next, now).attributionWindows).toEqual(want)
  })

  it('windowVersions: the history, or for an older offer its one window from the beginning', () => {
    expect(windowVersions(offer())).toEqual([])
    expect(windowVersions(offer({ attributionWindowDays: 14 }))).toEqual([v(14, 0)])
    expect(windowVersions(offer({ attributionWindowDays: 7, attributionWindows: [v(30, 100), v(7, 500)] }))).toEqual([v(30, 100), v(7, 500)])
  })

  it('the API takes the current window only; the history is not an input', () => {
    expect(patchOf(OfferInputSchema).safeParse({ attributionWindowDays: 7 }).success).toBe(true)
    expect(patchOf(OfferInputSchema).safeParse({ attributionWindows: [v(7, 0)] }).success).toBe(false)
    expect(OfferInputSchema.strict().safeParse({ name: 'x', destination: 'https://x.example/', attributionWindows: [] }).success).toBe(false)
  })
})
