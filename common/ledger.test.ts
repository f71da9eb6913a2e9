import { describe, expect, it } from 'vitest'
import { GENESIS, verifySealed, type ChainedLine, type Seal } from './ledger.js'
import { chained, ledgerLine } from '../test/helpers/ledger.js'

const line = (i: number, amount = '10') => ledgerLine(i, { amount, occurredAt: Date.UTC(2026, 10, i), period: i <= 3 ? '2026-10' : '2026-11' })

const real = chained([1, 2, 3, 4, 5, 6].map((i) => line(i)))
// October's statement sealed after line 3, November's after line 6
const seals: Seal[] = [
  { period: '2026-10', no: 3, hash: real[2]!.hash },
  { period: '2026-11', no: 6, hash: real[5]!.hash },
]

describe('checking downloaded lines against the statements’ seals', () => {
  it('passes on the real ledger', () => {
    expect(verifySealed(real, seals)).toEqual({ ok: true, lines: 6, head: real[5]!.hash })
  })

  it.each<[string, () => (ChainedLine & { no: number })[], object]>([
    ['a line altered in place', () => real.map((l, i) => (i === 1 ? { ...l, amount: '1' } : l)), { at: 1, problem: 'altered' }],
    ['a line removed', () => real.filter((_, i) => i !== 1), { at: 1, problem: 'removed_or_reordered' }],
    ['two lines swapped', () => [real[0]!, real[2]!, real[1]!, ...real.slice(3)], { at: 1, problem: 'removed_or_reordered' }],
    // the chain cut short after November's sealed line: it links up, the seal says what is missing
    ['the last lines cut off', () => real.slice(0, 5), { at: 6, period: '2026-11', problem: 'sealed_line_missing' }],
    // rebuilt with fresh hashes after a line was made smaller: links up, the seal does not match
    [
      'the chain rebuilt after shaving a line',
      () => chained([1, 2, 3, 4, 5, 6].map((i) => line(i, i === 2 ? '5' : '10'))),
      { at: 3, period: '2026-10', problem: 'seal_mismatch' },
    ],
  ])('finds %s and names where', (_name, lines, first) => {
    expect(verifySealed(lines(), seals)).toMatchObject({ ok: false, first })
  })

  it('a statement of an empty chain seals nothing to check', () => {
    expect(verifySealed([], [{ period: '2026-10', no: 0, hash: GENESIS }])).toEqual({ ok: true, lines: 0, head: GENESIS })
  })
})
