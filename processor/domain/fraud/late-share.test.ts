/**
 * The late-conversion share in the affiliate stage (click spamming): an affiliate whose
 * registrations mostly come days after their clicks has its new money held, and gets it paid
 * normally again once the share falls back; a rule in shadow mode holds nothing.
 */
import { describe, expect, it } from 'vitest'
import { InProcessStage, ScenarioSchema, scenarioFacts } from '../../simulator.js'
import type { ConversionFact, StageFact } from '../commission/accrual.js'

const T0 = Date.UTC(2026, 2, 1, 12)

/** One affiliate on a CPL of 1 EUR: each registration is one line. */
function run(registrations: { lateHours: number }[], shadow = false) {
  const s = ScenarioSchema.parse({
    program: { currency: 'EUR' },
    affiliates: [{ id: 1 }],
    deals: [{ id: 'cpl', affiliateId: 1, versions: [{ effectiveFrom: '2026-01-01', terms: { currency: 'EUR', cpl: { amount: '1' } } }] }],
    events: registrations.map((_, i) => ({ at: new Date(T0 + i * 3_600_000).toISOString(), kind: 'registration', player: `p${i}`, affiliate: 1 })),
  })
  const { facts, ref } = scenarioFacts(s)
  // the player stage's conversion fact before each registration's own (n 0; the CPL after it)
  const withConv: StageFact[] = facts.flatMap((f): StageFact[] => {
    if (f.type !== 'registration') return [f]
    const i = Number(f.playerRef.slice(1))
    const conv: ConversionFact = {
      type: 'conversion',
      seq: f.seq,
      idx: f.idx,
      n: 0,
      affiliateId: 1,
      playerKey: f.playerKey,
      playerRef: f.playerRef,
      eventId: f.eventId,
      occurredAt: f.occurredAt,
      ctitMs: registrations[i]!.lateHours * 3_600_000,
      late: { afterHours: 24, max: 0.3, minConversions: 20, shadow },
    }
    return [conv, { ...f, n: 1 } as StageFact]
  })
  return new InProcessStage(ref).apply(withConv).filter((l) => l.kind === 'cpl')
}

describe('late-conversion share (default: over 30% later than 24 h flags; over 65% holds the new money)', () => {
  it('an honest affiliate (a few late) is paid as usual', () => {
    const lines = run(Array.from({ length: 40 }, (_, i) => ({ lateHours: i % 10 === 0 ? 48 : 0.5 })))
    expect(lines.every((l) => l.status === 'payable')).toBe(true)
  })

  it('a click spammer: from the 20th registration on, with most late, what it earns is held for review', () => {
    const lines = run(Array.from({ length: 30 }, () => ({ lateHours: 72 })))
    expect(lines.slice(0, 19).every((l) => l.status === 'payable')).toBe(true)
    expect(lines.slice(19).every((l) => l.status === 'held')).toBe(true)
    expect(lines[19]!.reason).toMatch(/^Held for fraud review \(late_conversions\)/)
  })

  it('once the share falls back under the hold line, new money is paid again', () => {
    const lines = run([...Array.from({ length: 20 }, () => ({ lateHours: 72 })), ...Array.from({ length: 40 }, () => ({ lateHours: 0.2 }))])
    expect(lines[19]!.status).toBe('held')
    expect(lines.at(-1)!.status).toBe('payable')
  })

  it('in shadow mode it holds nothing', () => {
    expect(
      run(
        Array.from({ length: 30 }, () => ({ lateHours: 72 })),
        true,
      ).every((l) => l.status === 'payable'),
    ).toBe(true)
  })
})
