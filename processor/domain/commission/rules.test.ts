import { describe, expect, it } from 'vitest'
import { D } from '../../../common/money.js'
import { applyBands, bandIndex } from '../../../common/revshare.js'
import { FxTable } from '../../../common/fx.js'
import { periodOf } from '../../../common/periods.js'
import { priceAt } from './affiliate.js'

const BANDS = [
  { from: '0', rate: '0.25' },
  { from: '7500', rate: '0.30' },
  { from: '50000', rate: '0.35' },
]

describe('bands', () => {
  it.each([
    ['60000', 'tiered', '21000'],
    ['60000', 'ladder', '18125'],
    ['7500', 'tiered', '2250'], // exactly at a threshold: in the band
    ['7499.99', 'tiered', '1874.9975'],
    ['7500', 'ladder', '1875'],
    ['50000', 'ladder', '14625'],
    ['0', 'tiered', '0'],
    ['-1000', 'tiered', '-250'],
    ['-1000', 'ladder', '-250'],
  ] as const)('%s %s → %s', (volume, mode, want) => {
    expect(applyBands(BANDS, mode, new D(volume)).toFixed()).toBe(want)
  })

  it.each([
    ['0', 0],
    ['7499.999999', 0],
    ['7500', 1],
    ['49999.99', 1],
    ['50000', 2],
    ['1e9', 2],
  ])('volume %s is in band %i', (v, i) => {
    expect(bandIndex(BANDS, new D(v))).toBe(i)
  })
})

describe('periods', () => {
  it.each([
    ['2026-03-31T23:59:59.999Z', 'month', '2026-03'],
    ['2026-04-01T00:00:00.000Z', 'month', '2026-04'],
    ['2026-01-01T00:00:00Z', 'week', '2026-W01'], // a Thursday: week 1 of 2026
    ['2025-12-29T00:00:00Z', 'week', '2026-W01'], // the Monday of that week, in 2025
    ['2027-01-01T00:00:00Z', 'week', '2026-W53'], // a Friday: the last week of 2026
    ['2026-03-09T00:00:00Z', 'week', '2026-W11'],
    ['2026-03-08T23:59:59.999Z', 'week', '2026-W10'],
  ] as const)('%s by %s → %s', (at, kind, want) => {
    expect(periodOf(Date.parse(at), kind)).toBe(want)
  })
})

describe('FX', () => {
  const fx = new FxTable([
    { date: '2026-03-02', from: 'EUR', to: 'USD', rate: '1.10' },
    { date: '2026-03-04', from: 'EUR', to: 'USD', rate: '1.20' },
  ])
  it.each([
    ['2026-03-01', undefined],
    ['2026-03-02', '1.10'],
    ['2026-03-03', '1.10'],
    ['2026-03-04', '1.20'],
    ['2027-01-01', '1.20'],
  ])('EUR→USD on %s: %s', (day, want) => {
    expect(fx.rateOn('EUR', 'USD', day)?.rate).toBe(want)
  })
  it('the same currency needs no rate; an unknown pair says what is missing', () => {
    expect(fx.convert(new D('5'), 'USD', 'USD', '2026-01-01')).toEqual({ amount: new D('5'), rate: '1', date: '2026-01-01' })
    expect(fx.convert(new D('5'), 'GBP', 'USD', '2026-03-05')).toEqual({ missing: 'no GBP→USD rate recorded on or before 2026-03-05' })
  })
  it('a rate recorded again for the same day replaces it', () => {
    const t = new FxTable([{ date: '2026-03-02', from: 'EUR', to: 'USD', rate: '1.10' }])
    t.add({ date: '2026-03-02', from: 'EUR', to: 'USD', rate: '1.11' })
    expect(t.rateOn('EUR', 'USD', '2026-03-02')?.rate).toBe('1.11')
  })
})

describe('retroactive CPA tier price', () => {
  const cpa = {
    amount: '250',
    holdDays: 0,
    clawback: false,
    retroTiers: [
      { at: 5, amount: '300' },
      { at: 3, amount: '275' },
    ],
  }
  it.each([
    [0, '250'],
    [1, '250'],
    [2, '250'],
    [3, '275'],
    [4, '275'],
    [5, '300'],
    [99, '300'],
  ])('the %i-th CPA of the period is priced %s', (n, want) => {
    expect(priceAt(cpa, n)).toBe(want)
  })
})

describe('FX as of when an event was received', () => {
  it('a rate recorded after the event was received is not seen, so a replay converts as live did', () => {
    const t = new FxTable([
      { date: '2026-03-01', from: 'EUR', to: 'USD', rate: '1.10', recordedAt: 1000 },
      { date: '2026-03-02', from: 'EUR', to: 'USD', rate: '1.20', recordedAt: 5000 },
    ])
    expect(t.rateOn('EUR', 'USD', '2026-03-02', 4999)?.rate).toBe('1.10')
    expect(t.rateOn('EUR', 'USD', '2026-03-02', 5000)?.rate).toBe('1.20')
    expect(t.rateOn('EUR', 'USD', '2026-03-02')?.rate).toBe('1.20')
    expect(t.rateOn('EUR', 'USD', '2026-03-01', 999)).toBeUndefined()
  })
})
