import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { GENESIS, type LedgerLine } from '../../../common/ledger.js'
import { chained, ledgerLine } from '../../../test/helpers/ledger.js'
import { D } from '../../../common/money.js'
import { statementOf, type StatementOptions } from './statement.js'

const DAY = 86_400_000
const CLOSE = Date.UTC(2026, 11, 1)

type Spec = Partial<LedgerLine> & { id: string; amount: string }

/** One affiliate's chain from line specs (a payable EUR CPA of November by default). */
const ledger = (specs: Spec[]) => chained(specs.map((s, i) => ledgerLine(i, s)))

const nov: StatementOptions = { period: '2026-11', asOf: CLOSE }

describe('a statement for a closed period', () => {
  it('groups lines by kind, deal, version and currency, each rounded once, half-even, to the minor unit; the rounding differences are returned for the ledger', () => {
    const s = statementOf(
      7,
      ledger([
        { id: 'a', amount: '10.001' },
        { id: 'b', amount: '10.004' }, // CPA d1 v1: 20.005 → 20.00 (half-even: the 0 is even)
        { id: 'c', amount: '0.015', kind: 'revshare', dealId: 'd2' }, // 0.015 → 0.02
        { id: 'd', amount: '5', currency: 'JPY' }, // no minor unit
        { id: 'e', amount: '1.2345', currency: 'KWD' }, // three decimals: 1.234 (half-even)
      ]),
      nov,
    )
    expect(s.lines.map((l) => [l.kind, l.dealId, l.currency, l.lineIds, l.exact, l.amount])).toEqual([
      ['cpa', 'd1', 'EUR', ['a', 'b'], '20.005', '20.00'],
      ['revshare', 'd2', 'EUR', ['c'], '0.015', '0.02'],
      ['cpa', 'd1', 'JPY', ['d'], '5', '5'],
      ['cpa', 'd1', 'KWD', ['e'], '1.2345', '1.234'],
    ])
    expect(s.rounding.map((r) => [r.line.lineIds, r.amount])).toEqual([
      [['a', 'b'], '-0.005'],
      [['c'], '0.005'],
      [['e'], '-0.0005'],
    ])
    expect(s.totals.map((t) => [t.currency, t.total, t.payable])).toEqual([
      ['EUR', '20.02', '20.02'],
      ['JPY', '5', '5'],
      ['KWD', '1.234', '1.234'],
    ])
  })

  it('half-up when the program says so', () => {
    const s = statementOf(7, ledger([{ id: 'a', amount: '20.005' }]), { ...nov, rounding: 'half_up' })
    expect(s.lines[0]!.amount).toBe('20.01')
  })

  it('leaves a CPA still in its hold, and held money, for a later statement; a hold that ended by the close is paid', () => {
    const s = statementOf(
      7,
      ledger([
        { id: 'held', amount: '50', status: 'held' },
        { id: 'in-hold', amount: '100', status: 'pending', payableAt: CLOSE + DAY },
        { id: 'hold-over', amount: '30', status: 'pending', payableAt: CLOSE - DAY },
      ]),
      nov,
    )
    expect(s.waiting).toEqual(['held', 'in-hold'])
    expect(s.lines.flatMap((l) => l.lineIds)).toEqual(['hold-over'])
    expect(s.totals[0]!.payable).toBe('30')
  })

  it('a refund in the hold cancels the pending CPA (both wait, adding to nothing); a refund after payment is netted against the next statement', () => {
    const chainNow = ledger([
      { id: 'cpa1', amount: '100', status: 'pending', payableAt: CLOSE + DAY },
      { id: 'rev1', amount: '-100', status: 'reversed', kind: 'reversal', refLineId: 'cpa1' },
      { id: 'cpa2', amount: '80' },
      { id: 'rev2', amount: '-80', status: 'reversed', kind: 'reversal', refLineId: 'cpa2', period: '2026-12' },
      { id: 'cpa3', amount: '200', period: '2026-12' },
    ])
    const s = statementOf(7, chainNow, nov)
    expect(s.waiting).toEqual(['cpa1', 'rev1'])
    expect(s.totals[0]!.payable).toBe('80')
    // December: cpa2 was paid in November, so its refund comes off December's payment; cpa1's
    // hold has ended, and it comes with its refund, adding to nothing
    const dec = statementOf(7, chainNow, { period: '2026-12', asOf: Date.UTC(2027, 0, 1), settled: new Set(s.lines.flatMap((l) => l.lineIds)) })
    expect(dec.lines.map((l) => [l.kind, l.lineIds, l.amount])).toEqual([
      ['cpa', ['cpa1', 'cpa3'], '300.00'],
      ['reversal', ['rev1', 'rev2'], '-180.00'],
    ])
    expect(dec.totals[0]!.payable).toBe('120')
  })

  it('takes nothing of a later period, nor what an earlier statement took', () => {
    const s = statementOf(
      7,
      ledger([
        { id: 'old', amount: '5' },
        { id: 'now', amount: '7' },
        { id: 'next', amount: '9', period: '2026-12' },
      ]),
      {
        ...nov,
        settled: new Set(['old']),
      },
    )
    expect(s.lines.flatMap((l) => l.lineIds)).toEqual(['now'])
  })

  it.each([
    ['below the threshold: carried forward', '60', {}, '0', '60'],
    ['reaches it with what was carried in', '60', { EUR: '45' }, '105', '0'],
    ['exactly at the threshold: paid', '100', {}, '100', '0'],
    ['negative (refunds over earnings): carried, never paid', '-30', {}, '0', '-30'],
  ])('payment threshold 100 EUR, %s', (_name, amount, carriedIn, payable, carriedOut) => {
    const s = statementOf(7, ledger([{ id: 'a', amount }]), { ...nov, threshold: { EUR: '100' }, carriedIn })
    expect([s.totals[0]!.payable, s.totals[0]!.carriedOut]).toEqual([payable, carriedOut])
  })

  it('a currency with only an amount carried in still shows, and is paid once it reaches the threshold', () => {
    const s = statementOf(7, ledger([]), { ...nov, carriedIn: { USD: '150' }, threshold: { USD: '100' } })
    expect(s.totals).toEqual([{ currency: 'USD', carriedIn: '150', lines: '0', total: '150', payable: '150', carriedOut: '0' }])
  })

  it('is sealed with the head of the chain at the close', () => {
    const l = ledger([
      { id: 'a', amount: '1' },
      { id: 'b', amount: '2', status: 'held' },
    ])
    expect(statementOf(7, l, nov).seal).toEqual({ no: 2, hash: l[1]!.hash })
    expect(statementOf(7, [], nov).seal).toEqual({ no: 0, hash: GENESIS })
  })

  it('the ledger with the rounding adjustments adds up to the statement, to the last decimal (property)', () => {
    const amount = fc.integer({ min: -10_000_000, max: 10_000_000 }).map((n) => new D(n).div(10_000).toFixed())
    const spec = fc.record({
      amount,
      kind: fc.constantFrom('cpa', 'revshare', 'sub'),
      currency: fc.constantFrom('EUR', 'JPY', 'KWD'),
      dealVersion: fc.integer({ min: 1, max: 2 }),
    })
    fc.assert(
      fc.property(fc.array(spec, { maxLength: 30 }), (specs) => {
        const s = statementOf(7, ledger(specs.map((x, i) => ({ ...x, id: `l${i}`, kind: x.kind as LedgerLine['kind'] }))), nov)
        for (const t of s.totals) {
          const ledgerSum = specs.filter((x) => x.currency === t.currency).reduce((a, x) => a.plus(x.amount), new D(0))
          const adjustments = s.rounding.filter((r) => r.line.currency === t.currency).reduce((a, r) => a.plus(r.amount), new D(0))
          expect(ledgerSum.plus(adjustments).eq(t.lines)).toBe(true)
        }
        // every line is on the statement exactly once
        expect(s.lines.flatMap((l) => l.lineIds).sort()).toEqual(specs.map((_, i) => `l${i}`).sort())
      }),
      { numRuns: 300 },
    )
  })
})
