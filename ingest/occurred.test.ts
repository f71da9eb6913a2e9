import { describe, expect, it } from 'vitest'
import { OCCURRED_MIN_MS, parseOccurredAt } from './occurred.js'

const NOW = Date.UTC(2026, 10, 28, 10, 0, 0)
const at = (iso: string) => Date.parse(iso)

describe('parseOccurredAt: accepted', () => {
  it.each<[string, unknown, number]>([
    ['ISO with Z', '2026-11-28T09:30:00Z', at('2026-11-28T09:30:00Z')],
    ['ISO with milliseconds', '2026-11-28T09:30:00.250Z', at('2026-11-28T09:30:00.250Z')],
    ['ISO with one fraction digit', '2026-11-28T09:30:00.5Z', at('2026-11-28T09:30:00.500Z')],
    ['ISO without seconds', '2026-11-28T09:30Z', at('2026-11-28T09:30:00Z')],
    ['ISO with +01:00 (the same instant as 09:30Z)', '2026-11-28T10:30:00+01:00', at('2026-11-28T09:30:00Z')],
    ['ISO with -0530', '2026-11-28T04:00:00-0530', at('2026-11-28T09:30:00Z')],
    ['ISO with +00:00', '2026-11-28T09:30:00+00:00', at('2026-11-28T09:30:00Z')],
    ['an offset that moves the day back', '2026-11-28T00:30:00+02:00', at('2026-11-27T22:30:00Z')],
    ['a leap day', '2024-02-29T12:00:00Z', at('2024-02-29T12:00:00Z')],
    ['unix seconds as text', '1795858200', at('2026-11-28T09:30:00Z')],
    ['unix seconds as a JSON number', 1795858200, at('2026-11-28T09:30:00Z')],
    ['2000-01-01 itself', '946684800', OCCURRED_MIN_MS],
    ['5 minutes ahead (clock difference)', '2026-11-28T10:05:00Z', at('2026-11-28T10:05:00Z')],
  ])('%s', (_n, raw, ms) => {
    expect(parseOccurredAt(raw, NOW)).toEqual({ ok: true, ms })
  })
})

describe('parseOccurredAt: refused, with the reason', () => {
  it.each<[string, unknown, RegExp]>([
    ['no zone (ambiguous)', '2026-11-28T09:30:00', /ISO 8601 with a zone .* or unix seconds/],
    ['a day only', '2026-11-28', /ISO 8601/],
    ['a space for T', '2026-11-28 09:30:00Z', /ISO 8601/],
    ['microseconds (would be cut)', '2026-11-28T09:30:00.123456Z', /ISO 8601/],
    ['February 30', '2026-02-30T10:00:00Z', /ISO 8601/],
    ['hour 24', '2026-11-28T24:00:00Z', /ISO 8601/],
    ['month 13', '2026-13-01T10:00:00Z', /ISO 8601/],
    ['unix milliseconds', '1795858200000', /ISO 8601/],
    ['negative seconds', '-5', /ISO 8601/],
    ['fractional seconds', '1795858200.5', /ISO 8601/],
    ['an array (repeated in a query)', ['1795858200', '1795858201'], /ISO 8601/],
    ['an object', { t: 1 }, /ISO 8601/],
    ['before 2000', '1999-12-31T23:59:59Z', /before 2000-01-01/],
    ['zero', '0', /before 2000-01-01/],
    ['6 minutes in the future', '2026-11-28T10:06:00Z', /6 minutes in the future/],
    ['a year in the future', '2027-11-28T10:00:00Z', /in the future/],
  ])('%s', (_n, raw, reason) => {
    const r = parseOccurredAt(raw, NOW)
    expect(r.ok).toBe(false)
    expect(r.ok ? '' : r.message).toMatch(reason)
  })
})
