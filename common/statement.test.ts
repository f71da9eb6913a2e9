import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { GENESIS, type LedgerLine } from './ledger.js'
import { chained, ledgerLine } from '../test/helpers/ledger.js'
import { D } from './money.js'
import { collect, statementLineRef, statementOf, type CollectOptions } from './statement.js'

const DAY = 86_400_000
const CLOSE = Date.UTC(2026, 11, 1)

type Spec = Partial<LedgerLine> & { id: string; amount: string }

/** One affiliate's chain from line specs (a payable EUR CPA of November by default). */
const ledger = (specs: Spec[]) => chained(specs.map((s, i) => ledgerLine(i, s)))

const nov: CollectOptions = { period: '2026-11', asOf: CLOSE }

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
    expect(s.lines.map((l) => [l.kind, l.dealId, l.currency, l.lines, l.exact, l.amount])).toEqual([
      // how many ledger lines, its rounding line included
      ['cpa', 'd1', 'EUR', 3, '20.005', '20.00'],
      ['cpa', 'd1', 'JPY', 1, '5', '5'],
      ['cpa', 'd1', 'KWD', 2, '1.2345', '1.234'],
      ['revshare', 'd2', 'EUR', 2, '0.015', '0.02'],
    ])
    expect(s.rounding.map((r) => [r.line.kind, r.line.currency, r.amount])).toEqual([
      ['cpa', 'EUR', '-0.005'],
      ['cpa', 'KWD', '-0.0005'],
      ['revshare', 'EUR', '0.005'],
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
    expect(s.lines.map((l) => [l.lines, l.exact])).toEqual([[1, '30']])
    expect(s.totals[0]).toMatchObject({ payable: '30.00', pending: '100.00', held: '50.00' })
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
    expect(s.totals[0]).toMatchObject({ payable: '80.00', pending: '0.00' })
    // December: cpa2 was paid in November, so its refund comes off December's payment; cpa1's
    // hold has ended, and it comes with its refund, adding to nothing
    const dec = statementOf(7, chainNow, { period: '2026-12', asOf: Date.UTC(2027, 0, 1), previous: { ...nov, no: chainNow.length } })
    expect(dec.lines.map((l) => [l.kind, l.lines, l.amount])).toEqual([
      ['cpa', 2, '300.00'],
      ['reversal', 2, '-180.00'],
    ])
    expect(dec.totals[0]!.payable).toBe('120.00')
  })

  it('takes nothing of a later period, nor what the previous close took (a line written after it is taken now, whatever its period)', () => {
    const s = statementOf(
      7,
      ledger([
        { id: 'old', amount: '5', period: '2026-10' },
        { id: 'late', amount: '7', period: '2026-10' },
        { id: 'next', amount: '9', period: '2026-12' },
        { id: 'week', amount: '11', period: '2026-W46' },
      ]),
      { ...nov, previous: { period: '2026-10', asOf: Date.UTC(2026, 10, 1), no: 1 } },
    )
    expect(s.lines.map((l) => l.exact)).toEqual(['7'])
  })

  it('a payment line settles statements: no statement takes it', () => {
    const l = ledger([
      { id: 'a', amount: '100' },
      { id: 'pay:b1-7', amount: '-100', kind: 'payment' },
    ])
    expect(statementOf(7, l, nov).lines.map((x) => [x.kind, x.amount])).toEqual([['cpa', '100.00']])
  })

  it('a rounding line written by a close joins the statement line it rounded: collected again, the statement needs no more rounding', () => {
    const l = ledger([{ id: 'a', amount: '10.004' }])
    const first = statementOf(7, l, nov)
    const r = first.rounding[0]!
    const ref = statementLineRef(7, '2026-11', r.line)
    const again = ledger([
      { id: 'a', amount: '10.004' },
      { id: `round:${ref}`, amount: r.amount, kind: 'rounding', refLineId: ref },
    ])
    const c = collect(again, nov)
    expect(c.groups).toEqual([{ kind: 'cpa', dealId: 'd1', dealVersion: 1, currency: 'EUR', lines: 2, sum: '10' }])
    expect(statementOf(7, again, nov).rounding).toEqual([])
  })

  it.each([
    ['below the threshold: carried forward', '60', {}, '0.00', '60.00'],
    ['reaches it with what was carried in', '60', { EUR: '45' }, '105.00', '0.00'],
    ['exactly at the threshold: paid', '100', {}, '100.00', '0.00'],
    ['negative (refunds over earnings): carried, never paid', '-30', {}, '0.00', '-30.00'],
  ])('payment threshold 100 EUR, %s', (_name, amount, carriedIn, payable, carriedOut) => {
    const s = statementOf(7, ledger([{ id: 'a', amount }]), { ...nov, threshold: { EUR: '100' }, carriedIn })
    expect([s.totals[0]!.payable, s.totals[0]!.carriedOut]).toEqual([payable, carriedOut])
  })

  it('a currency with only an amount carried in still shows, and is paid once it reaches the threshold', () => {
    const s = statementOf(7, ledger([]), { ...nov, carriedIn: { USD: '150' }, threshold: { USD: '100' } })
    expect(s.totals).toEqual([{ currency: 'USD', carriedIn: '150.00', lines: '0.00', total: '150.00', payable: '150.00', carriedOut: '0.00', pending: '0.00', held: '0.00' }])
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
        expect(s.lines.reduce((n, l) => n + l.lines, 0)).toBe(specs.length + s.rounding.length)
      }),
      { numRuns: 300 },
    )
  })
})
