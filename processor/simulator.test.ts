/**
 * The commission rules through the simulator: every scenario file in scenarios/ (the worked
 * examples of docs/commission.md) gives its expected totals; edge cases at each boundary; and
 * properties: any split of the same facts into batches, and any redelivery, write the same
 * ledger; every affiliate's chain verifies, and tampering is found.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { applyFacts, type Books, type NumberedLine } from './domain/commission/affiliate.js'
import { chainHash, verifyChain } from '../common/ledger.js'
import { roundMinor } from '../common/money.js'
import { inBatches } from '../test/helpers/batches.js'
import { InProcessStage, ScenarioSchema, scenarioFacts, simulate, type Scenario, type ScenarioInput } from './simulator.js'

const DIR = fileURLToPath(new URL('../scenarios/', import.meta.url))
const files = readdirSync(DIR).filter((f) => f.endsWith('.scenario.json'))
const load = (f: string): Scenario => ScenarioSchema.parse(JSON.parse(readFileSync(join(DIR, f), 'utf8')))

/** Totals per affiliate and period as the scenario's `expect` writes them (a period with no line is 0). */
function totalsOf(s: Scenario, r: ReturnType<typeof simulate>): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {}
  for (const [aff, periods] of Object.entries(s.expect ?? {})) {
    out[aff] = {}
    for (const p of Object.keys(periods)) out[aff]![p] = r.totals[aff]?.[p]?.total ?? '0.00'
  }
  return out
}

/** The statements' totals in the program currency, as the scenario's `expectStatements` names them. */
function statementsOf(s: Scenario, r: ReturnType<typeof simulate>): Record<string, Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, Record<string, string>>> = {}
  for (const [aff, periods] of Object.entries(s.expectStatements ?? {})) {
    out[aff] = {}
    for (const [p, want] of Object.entries(periods)) {
      const st = r.statements.find((x) => String(x.affiliateId) === aff && x.period === p)
      const t: Record<string, string> = { ...st?.totals.find((x) => x.currency === s.program.currency) }
      // a statement with nothing in the currency has no total in it: zero
      out[aff]![p] = Object.fromEntries(Object.keys(want).map((k) => [k, st ? (t[k] ?? roundMinor('0', s.program.currency)) : 'no statement']))
    }
  }
  return out
}

describe('scenario files (the worked examples)', () => {
  it('there is one for each worked example', () => {
    expect(files.length).toBeGreaterThanOrEqual(14)
  })

  it.each(files)('%s gives its expected totals and statements', (f) => {
    const s = load(f)
    expect(s.expect ?? s.expectStatements, 'a scenario file states what it expects').toBeDefined()
    const r = simulate(s)
    if (s.expect) expect(totalsOf(s, r)).toEqual(s.expect)
    if (s.expectStatements) expect(statementsOf(s, r)).toEqual(s.expectStatements)
  })

  it.each(files)("%s: every affiliate's chain verifies and ends at its head", (f) => {
    const r = simulate(load(f))
    for (const [aff, head] of Object.entries(r.heads)) {
      const own = r.lines.filter((l) => String(l.affiliateId) === aff)
      expect(own.map((l) => l.no)).toEqual(own.map((_, i) => i + 1))
      expect(verifyChain(own, { expectedHead: head })).toEqual({ ok: true, lines: own.length, head })
    }
  })

  it.each(files)('%s: any split into batches, with any batch redelivered, writes the identical ledger', (f) => {
    const s = load(f)
    const want = simulate(s)
    const { facts, ref } = scenarioFacts(s)
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 7 }), { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 5 }), (sizes, redeliver) => {
        const stage = inBatches(facts, ref, sizes, redeliver)
        expect(stage.lines.map((l) => l.hash)).toEqual(want.lines.map((l) => l.hash))
        expect(stage.statements).toEqual(want.statements)
      }),
      { numRuns: 40 },
    )
  })
})

describe('the chain finds tampering', () => {
  const r = simulate(load('qualified-cpa.scenario.json'))
  const lines = r.lines.filter((l) => l.affiliateId === 1)
  const head = r.heads['1']!

  it('an altered amount is named', () => {
    const bad = lines.map((l, i) => (i === 5 ? { ...l, amount: '1' } : l))
    expect(verifyChain(bad, { expectedHead: head })).toMatchObject({ ok: false, first: { at: 5, lineId: lines[5]!.id, problem: 'altered' } })
  })

  it('a removed line is found at the line after it', () => {
    const bad = lines.filter((_, i) => i !== 3)
    expect(verifyChain(bad, { expectedHead: head })).toMatchObject({ ok: false, first: { at: 3, lineId: lines[4]!.id, problem: 'removed_or_reordered' } })
  })

  it('two lines swapped are found', () => {
    const bad = [...lines]
    ;[bad[2], bad[3]] = [bad[3]!, bad[2]!]
    expect(verifyChain(bad, { expectedHead: head })).toMatchObject({ ok: false, first: { at: 2, problem: 'removed_or_reordered' } })
  })

  it('the last line removed is found against the seal', () => {
    expect(verifyChain(lines.slice(0, -1), { expectedHead: head })).toMatchObject({ ok: false, first: { problem: 'removed_or_reordered' } })
  })

  it('an altered line re-hashed breaks the next link', () => {
    const bad = lines.map((l) => ({ ...l }))
    bad[4]!.amount = '1000'
    bad[4]!.hash = chainHash(bad[4]!.prevHash, bad[4]!)
    expect(verifyChain(bad, { expectedHead: head })).toMatchObject({ ok: false, first: { at: 5, problem: 'removed_or_reordered' } })
  })
})

// ---- edge cases at each boundary ----

const USD = 'USD'
function scenario(over: Partial<ScenarioInput> & Pick<ScenarioInput, 'deals' | 'events'>): Scenario {
  return ScenarioSchema.parse({ program: { currency: USD }, affiliates: [{ id: 1 }], ...over })
}
const cpaDeal = (terms: Record<string, unknown>, effectiveFrom = '2026-01-01') => ({
  id: 'd',
  affiliateId: 1,
  versions: [{ effectiveFrom, terms: { currency: USD, ...terms } }],
})
const total = (s: Scenario, period: string, aff = '1') => simulate(s).totals[aff]?.[period]?.total ?? '0.00'

describe('edge cases', () => {
  it.each([
    ['exactly at the minimum first deposit', '20', '100.00'],
    ['a cent below it', '19.99', '0.00'],
    ['far above it', '5000', '100.00'],
  ])('qualified CPA, %s (%s)', (_n, ftd, want) => {
    const s = scenario({
      deals: [cpaDeal({ cpa: { amount: '100', qualification: { minFirstDeposit: '20' } } })],
      events: [
        { at: '2026-03-01T10:00:00Z', kind: 'registration', player: 'p', affiliate: 1 },
        { at: '2026-03-01T11:00:00Z', kind: 'ftd', player: 'p', amount: ftd, currency: USD },
      ],
    })
    expect(total(s, '2026-03')).toBe(want)
  })

  it.each([
    ['the last millisecond of the window', '2026-03-31T10:00:00.000Z', '100.00'],
    ['a millisecond after it: a late qualifier earns no CPA', '2026-03-31T10:00:00.001Z', '0.00'],
  ])('qualification window of 30 days, wagering met at %s', (_n, at, want) => {
    const s = scenario({
      deals: [cpaDeal({ cpa: { amount: '100', qualification: { minWagering: '100', windowDays: 30 } } })],
      events: [
        { at: '2026-03-01T10:00:00Z', kind: 'registration', player: 'p', affiliate: 1 },
        { at: '2026-03-01T11:00:00Z', kind: 'ftd', player: 'p', amount: '10', currency: USD },
        { at, kind: 'activity', player: 'p', currency: USD, details: { bets: '100' } },
      ],
    })
    expect(total(s, '2026-03')).toBe(want)
  })

  it('wagering as a multiple of the minimum deposit, and active days', () => {
    const terms = { cpa: { amount: '100', qualification: { minFirstDeposit: '20', wageringMultiple: '5', minActiveDays: 2 } } }
    const ev = (bets: string, day: string) => ({ at: `${day}T12:00:00Z`, kind: 'activity' as const, player: 'p', currency: USD, details: { bets } })
    const base = [
      { at: '2026-03-01T10:00:00Z', kind: 'registration' as const, player: 'p', affiliate: 1 },
      { at: '2026-03-01T11:00:00Z', kind: 'ftd' as const, player: 'p', amount: '20', currency: USD },
    ]
    // 5 × 20 = 100 wagered, but on one day only
    expect(total(scenario({ deals: [cpaDeal(terms)], events: [...base, ev('100', '2026-03-01')] }), '2026-03')).toBe('0.00')
    // 99.99 over two days: a cent short
    expect(total(scenario({ deals: [cpaDeal(terms)], events: [...base, ev('50', '2026-03-01'), ev('49.99', '2026-03-02')] }), '2026-03')).toBe('0.00')
    expect(total(scenario({ deals: [cpaDeal(terms)], events: [...base, ev('50', '2026-03-01'), ev('50', '2026-03-02')] }), '2026-03')).toBe('100.00')
  })

  it.each([
    ['1 ms before midnight of the effective date: the old version', '2026-04-30T23:59:59.999Z', '100.00'],
    ['exactly at midnight: the new version', '2026-05-01T00:00:00.000Z', '150.00'],
  ])('a deal change at midnight, FTD %s', (_n, at, want) => {
    const s = scenario({
      deals: [
        {
          id: 'd',
          affiliateId: 1,
          versions: [
            { effectiveFrom: '2026-01-01', terms: { currency: USD, cpa: { amount: '100' } } },
            { effectiveFrom: '2026-05-01', terms: { currency: USD, cpa: { amount: '150' } } },
          ],
        },
      ],
      events: [
        { at: '2026-04-20T10:00:00Z', kind: 'registration', player: 'p', affiliate: 1 },
        { at, kind: 'ftd', player: 'p', amount: '50', currency: USD },
      ],
    })
    const r = simulate(s)
    expect(Object.values(r.totals['1']!)[0]!.total).toBe(want)
    expect(r.lines[0]!.dealVersion).toBe(want === '150.00' ? 2 : 1)
  })

  it.each([
    // March: A at −NGR, B +1,000; April: B +2,000. A high roller carries March's negative alone.
    ['exactly at the threshold: a high roller', '5000', '500.00'],
    ['a cent short of it: the affiliate carries the negative', '4999.99', '0.00'],
  ])('high-roller clause (threshold 5,000), player NGR −%s', (_n, loss, want) => {
    const s = scenario({
      deals: [cpaDeal({ revshare: { bands: [{ from: '0', rate: '0.25' }], highRoller: { threshold: '5000' } } })],
      events: [
        { at: '2026-03-01T10:00:00Z', kind: 'registration', player: 'a', affiliate: 1 },
        { at: '2026-03-01T10:01:00Z', kind: 'registration', player: 'b', affiliate: 1 },
        { at: '2026-03-05T10:00:00Z', kind: 'activity', player: 'a', currency: USD, details: { bets: '0', wins: loss } },
        { at: '2026-03-06T10:00:00Z', kind: 'activity', player: 'b', currency: USD, details: { bets: '1000' } },
        { at: '2026-04-06T10:00:00Z', kind: 'activity', player: 'b', currency: USD, details: { bets: '2000' } },
      ],
    })
    // a cent short: −4,999.99 + 1,000 carried by the affiliate swallows April's 2,000
    expect(total(s, '2026-04')).toBe(want)
  })

  it('high-roller clause: the cap is the period’s negative, the rest stays the high roller’s own; a high roller needs carryover', () => {
    // March: A −8,000, B +6,000: the month is −2,000, A carries 2,000 of it (not 8,000); April: A +3,000 pays back 2,000
    const s = scenario({
      deals: [cpaDeal({ revshare: { bands: [{ from: '0', rate: '0.5' }], highRoller: { threshold: '5000' } } })],
      events: [
        { at: '2026-03-01T10:00:00Z', kind: 'registration', player: 'a', affiliate: 1 },
        { at: '2026-03-01T10:01:00Z', kind: 'registration', player: 'b', affiliate: 1 },
        { at: '2026-03-05T10:00:00Z', kind: 'activity', player: 'a', currency: USD, details: { bets: '0', wins: '8000' } },
        { at: '2026-03-06T10:00:00Z', kind: 'activity', player: 'b', currency: USD, details: { bets: '6000' } },
        { at: '2026-04-06T10:00:00Z', kind: 'activity', player: 'a', currency: USD, details: { bets: '3000' } },
      ],
    })
    expect(total(s, '2026-03')).toBe('0.00')
    expect(total(s, '2026-04')).toBe('500.00')
    expect(() =>
      scenario({ deals: [cpaDeal({ revshare: { bands: [{ from: '0', rate: '0.5' }], carryover: false, highRoller: { threshold: '5000' } } })], events: [] }),
    ).toThrow(/needs carryover/)
  })

  it.each([
    [
      'retroactive: all five re-priced to the 5th tier',
      {
        retroTiers: [
          { at: 3, amount: '275' },
          { at: 5, amount: '300' },
        ],
      },
      '1500.00',
      6,
    ],
    [
      'a ladder: each at the band its number reached',
      {
        ladderTiers: [
          { at: 3, amount: '275' },
          { at: 5, amount: '300' },
        ],
      },
      '1350.00',
      0,
    ],
  ])('CPA tiers, %s', (_n, tiers, want, reprices) => {
    const events: ScenarioInput['events'] = []
    for (let i = 0; i < 5; i++)
      events.push(
        { at: `2026-04-0${i + 1}T10:00:00Z`, kind: 'registration', player: `p${i}`, affiliate: 1 },
        { at: `2026-04-0${i + 1}T11:00:00Z`, kind: 'ftd', player: `p${i}`, amount: '20', currency: USD },
      )
    const r = simulate(scenario({ deals: [cpaDeal({ cpa: { amount: '250', ...tiers } })], events }))
    expect(r.totals['1']!['2026-04']!.total).toBe(want)
    expect(r.lines.filter((l) => l.kind === 'cpa_retro')).toHaveLength(reprices)
    expect(() =>
      scenario({ deals: [cpaDeal({ cpa: { amount: '1', retroTiers: [{ at: 2, amount: '2' }], ladderTiers: [{ at: 2, amount: '2' }] } })], events: [] }),
    ).toThrow(/not both/)
  })

  it("ringfence: one deal's negative balance never offsets the affiliate's other deals; it carries into its own deal's next period", () => {
    // two brands, a 30% deal each: brand 1 NGR −10,000 in March, brand 2 +5,000; April brand 1 +15,000
    const rs = (id: string, brandId: number) => ({
      id,
      affiliateId: 1,
      brandId,
      versions: [{ effectiveFrom: '2026-01-01', terms: { currency: USD, revshare: { bands: [{ from: '0', rate: '0.30' }] } } }],
    })
    const r = simulate(
      scenario({
        deals: [rs('b1', 1), rs('b2', 2)],
        events: [
          { at: '2026-03-01T10:00:00Z', kind: 'registration', player: 'x', affiliate: 1, brand: 1 },
          { at: '2026-03-01T10:01:00Z', kind: 'registration', player: 'y', affiliate: 1, brand: 2 },
          { at: '2026-03-05T10:00:00Z', kind: 'activity', player: 'x', currency: USD, details: { bets: '0', wins: '10000' } },
          { at: '2026-03-06T10:00:00Z', kind: 'activity', player: 'y', currency: USD, details: { bets: '5000' } },
          { at: '2026-04-06T10:00:00Z', kind: 'activity', player: 'x', currency: USD, details: { bets: '15000' } },
        ],
      }),
    )
    const byDeal = (deal: string, period: string) => r.lines.filter((l) => l.dealId === deal && l.period === period).reduce((t, l) => t + Number(l.amount), 0)
    expect([byDeal('b1', '2026-03'), byDeal('b2', '2026-03'), byDeal('b1', '2026-04')]).toEqual([0, 1500, 1500])
  })

  it.each([
    // bands 10% / 50% from 2 FTDs; NGR 1,000 in March
    ['exactly at the band: the 2nd FTD lifts the month', 2, '500.00'],
    ['one short: the first rate', 1, '100.00'],
  ])('RevShare tiered by qualified FTDs, %s', (_n, ftds, want) => {
    const events: ScenarioInput['events'] = []
    for (let i = 0; i < ftds; i++)
      events.push(
        { at: `2026-03-0${i + 1}T10:00:00Z`, kind: 'registration', player: `p${i}`, affiliate: 1 },
        { at: `2026-03-0${i + 1}T11:00:00Z`, kind: 'ftd', player: `p${i}`, amount: '20', currency: USD },
      )
    // the NGR before the FTD that lifts it: the month is re-priced when the count moves
    events.splice(2, 0, { at: '2026-03-01T12:00:00Z', kind: 'activity', player: 'p0', currency: USD, details: { bets: '1500', wins: '500' } })
    // a registration without a first deposit does not count
    events.push({ at: '2026-03-09T10:00:00Z', kind: 'registration', player: 'z', affiliate: 1 })
    const s = scenario({
      deals: [
        cpaDeal({
          revshare: {
            tierBy: 'qualified_ftds',
            bands: [
              { from: '0', rate: '0.10' },
              { from: '2', rate: '0.5' },
            ],
          },
        }),
      ],
      events,
    })
    expect(total(s, '2026-03')).toBe(want)
  })

  it.each([
    [
      'laddered',
      {
        mode: 'ladder',
        bands: [
          { from: '0', rate: '0.1' },
          { from: '2', rate: '0.2' },
        ],
      },
      /cannot be laddered/,
    ],
    [
      'a band from a fraction of an FTD',
      {
        bands: [
          { from: '0', rate: '0.1' },
          { from: '2.5', rate: '0.2' },
        ],
      },
      /whole number of qualified FTDs/,
    ],
  ])('RevShare by qualified FTDs refuses bands %s', (_n, rs, why) => {
    expect(() => scenario({ deals: [cpaDeal({ revshare: { tierBy: 'qualified_ftds', ...rs } })], events: [] })).toThrow(why)
  })

  it('a cap reached by two conversions in one batch: the first in cause order is paid, the second recorded at 0', () => {
    const s = scenario({
      deals: [cpaDeal({ cpa: { amount: '100', caps: { monthly: 1 } } })],
      events: [
        { at: '2026-03-01T10:00:00Z', kind: 'registration', player: 'a', affiliate: 1 },
        { at: '2026-03-01T10:00:00Z', kind: 'registration', player: 'b', affiliate: 1 },
        { at: '2026-03-01T11:00:00Z', kind: 'ftd', player: 'b', amount: '50', currency: USD },
        { at: '2026-03-01T11:00:00Z', kind: 'ftd', player: 'a', amount: '50', currency: USD },
      ],
    })
    const r = simulate(s, { batches: [100] })
    expect(r.lines.map((l) => [l.playerRef, l.amount])).toEqual([
      ['b', '100'],
      ['a', '0'],
    ])
    expect(r.lines[1]!.reason).toMatch(/monthly cap of 1/)
  })

  it.each([
    ['a refund in the hold period reverses the CPA', '2026-03-20T10:00:00Z', '0.00'],
    ['a refund after the hold leaves it', '2026-04-01T10:00:00Z', '100.00'],
  ])('%s', (_n, at, want) => {
    const s = scenario({
      deals: [cpaDeal({ cpa: { amount: '100', holdDays: 30 } })],
      events: [
        { at: '2026-03-01T10:00:00Z', kind: 'registration', player: 'p', affiliate: 1 },
        { at: '2026-03-01T11:00:00Z', kind: 'ftd', player: 'p', id: 'dep1', amount: '50', currency: USD },
        { at, kind: 'refund', player: 'p', amount: '50', currency: USD, details: { ref_event_id: 'dep1' } },
      ],
    })
    expect(total(s, '2026-03')).toBe(want)
    const r = simulate(s)
    if (want === '0.00') expect(r.lines.at(-1)).toMatchObject({ kind: 'reversal', status: 'reversed', amount: '-100', refLineId: r.lines[0]!.id })
  })

  it.each([
    ['zero NGR pays nothing and writes no line', { bets: '100', wins: '100' }, '0.00', 0],
    ['negative NGR in the month pays 0', { bets: '100', wins: '250' }, '0.00', 0],
    ['NGR after bonuses and fees', { bets: '1000', wins: '400', bonuses: '100', fees: '50' }, '135.00', 1],
  ])('RevShare 30%%: %s', (_n, details, want, lineCount) => {
    const s = scenario({
      deals: [cpaDeal({ revshare: { bands: [{ from: '0', rate: '0.30' }] } })],
      events: [
        { at: '2026-03-01T10:00:00Z', kind: 'registration', player: 'p', affiliate: 1 },
        { at: '2026-03-02T10:00:00Z', kind: 'activity', player: 'p', currency: USD, details },
      ],
    })
    const r = simulate(s)
    expect(total(s, '2026-03')).toBe(want)
    expect(r.lines).toHaveLength(lineCount)
  })

  it('an admin fee comes off NGR before RevShare', () => {
    const s = scenario({
      deals: [cpaDeal({ revshare: { bands: [{ from: '0', rate: '0.30' }], adminFee: '0.25' } })],
      events: [
        { at: '2026-03-01T10:00:00Z', kind: 'registration', player: 'p', affiliate: 1 },
        { at: '2026-03-02T10:00:00Z', kind: 'activity', player: 'p', currency: USD, details: { bets: '1000' } },
      ],
    })
    // 30% × (1000 × 0.75)
    expect(total(s, '2026-03')).toBe('225.00')
  })

  it.each([
    ['291.385 rounds half-even to 291.38', '57.7', '5.05', 'half_even', '291.38'],
    ['291.395 rounds half-even to 291.40', '1', '291.395', 'half_even', '291.40'],
    ['291.385 rounds half-up to 291.39', '57.7', '5.05', 'half_up', '291.39'],
    ['0.005 rounds half-even to 0.00', '1', '0.005', 'half_even', '0.00'],
    ['0.015 rounds half-even to 0.02', '1', '0.015', 'half_even', '0.02'],
  ])('half a cent: %s', (_n, lots, perLot, rounding, want) => {
    const s = ScenarioSchema.parse({
      program: { currency: USD, rounding },
      affiliates: [{ id: 1 }],
      deals: [cpaDeal({ ib: { perLot: { '*': perLot } } })],
      events: [
        { at: '2026-03-01', kind: 'registration', player: 't', affiliate: 1 },
        { at: '2026-03-02', kind: 'trade', player: 't', currency: USD, details: { instrument: 'EURUSD', lots } },
      ],
    })
    expect(total(s, '2026-03')).toBe(want)
  })

  it('ledger amounts keep 12 decimals: a long rate times a long amount is rounded there, not to cents', () => {
    const s = scenario({
      deals: [cpaDeal({ revshare: { bands: [{ from: '0', rate: '0.333333333333' }] } })],
      events: [
        { at: '2026-03-01T10:00:00Z', kind: 'registration', player: 'p', affiliate: 1 },
        { at: '2026-03-02T10:00:00Z', kind: 'activity', player: 'p', currency: USD, details: { bets: '0.123456789012' } },
      ],
    })
    expect(simulate(s).lines[0]!.amount).toBe('0.041152263004')
  })

  it('a deposit in another currency counts toward a threshold at the recorded rate', () => {
    const s = scenario({
      fx: [{ date: '2026-03-01', from: 'EUR', to: USD, rate: '1.10' }],
      deals: [cpaDeal({ cpa: { amount: '100', qualification: { minFirstDeposit: '22' } } })],
      events: [
        { at: '2026-03-01T10:00:00Z', kind: 'registration', player: 'p', affiliate: 1 },
        { at: '2026-03-01T11:00:00Z', kind: 'ftd', player: 'p', amount: '20', currency: 'EUR' },
      ],
    })
    // 20 EUR × 1.10 = 22 USD: exactly at the threshold
    expect(total(s, '2026-03')).toBe('100.00')
  })

  it('a player status after the hold changes nothing; before qualification it disqualifies', () => {
    const events = (statusAt: string) => [
      { at: '2026-03-01T10:00:00Z', kind: 'registration' as const, player: 'p', affiliate: 1 },
      { at: statusAt, kind: 'player_status' as const, player: 'p', status: 'self_excluded' as const },
      { at: '2026-03-05T11:00:00Z', kind: 'ftd' as const, player: 'p', amount: '50', currency: USD },
    ]
    expect(total(scenario({ deals: [cpaDeal({ cpa: { amount: '100', holdDays: 7 } })], events: events('2026-03-02T10:00:00Z') }), '2026-03')).toBe('0.00')
    const late = scenario({
      deals: [cpaDeal({ cpa: { amount: '100', holdDays: 7 } })],
      events: [
        ...events('2026-03-01T10:00:00Z').filter((e) => e.kind !== 'player_status'),
        { at: '2026-03-20T10:00:00Z', kind: 'player_status', player: 'p', status: 'kyc_failed' },
      ],
    })
    expect(total(late, '2026-03')).toBe('100.00')
  })

  it('a CPA version that starts after the first deposit pays nothing for it, even when the player plays on', () => {
    const s = scenario({
      deals: [cpaDeal({ cpa: { amount: '100', qualification: { minWagering: '100' } } }, '2026-03-10')],
      events: [
        { at: '2026-03-01T10:00:00Z', kind: 'registration', player: 'p', affiliate: 1 },
        { at: '2026-03-01T11:00:00Z', kind: 'ftd', player: 'p', amount: '50', currency: USD },
        { at: '2026-03-12T11:00:00Z', kind: 'activity', player: 'p', currency: USD, details: { bets: '500' } },
      ],
    })
    expect(simulate(s).lines).toEqual([])
  })

  it("a suspended affiliate's conversions are attributed, and what they earn is held with the reason; before and after, paid", () => {
    const s = scenario({
      affiliates: [
        {
          id: 1,
          status: [
            { status: 'suspended', from: '2026-03-10' },
            { status: 'active', from: '2026-03-20' },
          ],
        },
      ],
      deals: [cpaDeal({ cpa: { amount: '100' } })],
      events: ['2026-03-05', '2026-03-15', '2026-03-25'].flatMap((d, i) => [
        { at: `${d}T10:00:00Z`, kind: 'registration' as const, player: `p${i}`, affiliate: 1 },
        { at: `${d}T11:00:00Z`, kind: 'ftd' as const, player: `p${i}`, amount: '50', currency: USD },
      ]),
    })
    const r = simulate(s)
    expect(r.lines.map((l) => [l.playerRef, l.status])).toEqual([
      ['p0', 'payable'],
      ['p1', 'held'],
      ['p2', 'payable'],
    ])
    expect(r.lines[1]!.reason).toMatch(/^Held \(affiliate_suspended\)/)
    expect(r.totals['1']!['2026-03']).toMatchObject({ total: '300.00', held: '100.00' })
  })

  it('organic players earn nobody anything', () => {
    const s = scenario({
      deals: [cpaDeal({ cpa: { amount: '100' } })],
      events: [
        { at: '2026-03-01T10:00:00Z', kind: 'registration', player: 'p' },
        { at: '2026-03-01T11:00:00Z', kind: 'ftd', player: 'p', amount: '50', currency: USD },
      ],
    })
    expect(simulate(s).lines).toEqual([])
  })

  it('the same scenario twice gives the same ledger hash; a different amount another', () => {
    const s = load('cpa-retro-tiers.scenario.json')
    expect(simulate(s).ledgerHash).toBe(simulate(load('cpa-retro-tiers.scenario.json')).ledgerHash)
    const changed = {
      ...s,
      deals: [
        {
          ...s.deals[0]!,
          versions: [
            { ...s.deals[0]!.versions[0]!, terms: { ...s.deals[0]!.versions[0]!.terms, cpa: { ...s.deals[0]!.versions[0]!.terms.cpa!, amount: '251' } } },
          ],
        },
      ],
    }
    expect(simulate(changed).ledgerHash).not.toBe(simulate(s).ledgerHash)
  })
})

describe('order, versions and reversals', () => {
  const reg = (player: string, at: string, affiliate = 1) => ({ at, kind: 'registration' as const, player, affiliate })
  const act = (player: string, at: string, bets: string, wins = '0') => ({ at, kind: 'activity' as const, player, currency: USD, details: { bets, wins } })

  it('each period is paid at the terms of its own deal version, also when a late fact re-balances it', () => {
    const s = scenario({
      deals: [
        {
          id: 'd',
          affiliateId: 1,
          versions: [
            { effectiveFrom: '2026-01-01', terms: { currency: USD, revshare: { bands: [{ from: '0', rate: '0.30' }] } } },
            { effectiveFrom: '2026-04-01', terms: { currency: USD, revshare: { bands: [{ from: '0', rate: '0.40' }] } } },
          ],
        },
      ],
      events: [reg('p', '2026-03-01'), act('p', '2026-03-10', '1000'), act('p', '2026-04-10', '1000'), act('p', '2026-03-20', '100')],
    })
    expect(total(s, '2026-03')).toBe('330.00')
    expect(total(s, '2026-04')).toBe('400.00')
  })

  it('a late negative period re-balances the carry into the next period, with a line for it', () => {
    const s = scenario({
      deals: [cpaDeal({ revshare: { bands: [{ from: '0', rate: '0.30' }] } })],
      events: [reg('p', '2026-03-01'), act('p', '2026-04-10', '3000'), act('p', '2026-03-20', '0', '1000')],
    })
    // April: 30% × (3000 − 1000 carried in)
    expect(total(s, '2026-04')).toBe('600.00')
    expect(simulate(s).lines.at(-1)!.reason).toMatch(/re-balanced/)
  })

  it("a clawback deal's offset depends on the player's own NGR, not on the order of other players' facts", () => {
    const deal = cpaDeal({ cpa: { amount: '20', clawback: true }, revshare: { bands: [{ from: '0', rate: '0.30' }] } })
    const a = [reg('a', '2026-06-01T10:00:00Z'), { at: '2026-06-01T11:00:00Z', kind: 'ftd' as const, player: 'a', amount: '50', currency: USD }]
    const aNgr = act('a', '2026-06-03T10:00:00Z', '100')
    const bNgr = act('b', '2026-06-03T11:00:00Z', '0', '1000')
    const one = scenario({ deals: [deal], events: [...a, reg('b', '2026-06-01T10:00:00Z'), aNgr, bNgr] })
    const two = scenario({ deals: [deal], events: [...a, reg('b', '2026-06-01T10:00:00Z'), bNgr, aNgr] })
    expect(total(one, '2026-06')).toBe(total(two, '2026-06'))
  })

  it('a reversal dated inside the hold takes the CPA back even after a later-dated event of the affiliate was applied', () => {
    const s = scenario({
      deals: [cpaDeal({ cpa: { amount: '100', holdDays: 30 } })],
      events: [
        reg('p', '2026-03-01T10:00:00Z'),
        { at: '2026-03-01T11:00:00Z', kind: 'ftd', player: 'p', id: 'dep', amount: '50', currency: USD },
        reg('q', '2026-04-15T10:00:00Z'),
        { at: '2026-03-10T10:00:00Z', kind: 'chargeback', player: 'p', amount: '50', currency: USD, details: { ref_event_id: 'dep' } },
      ],
    })
    expect(total(s, '2026-03')).toBe('0.00')
  })

  it('retroactive tiers go back down when a CPA of the period is reversed', () => {
    const s = scenario({
      deals: [cpaDeal({ cpa: { amount: '250', holdDays: 30, retroTiers: [{ at: 3, amount: '275' }] } })],
      events: [
        ...['p1', 'p2', 'p3'].flatMap((p, i) => [
          reg(p, `2026-04-0${i + 1}T10:00:00Z`),
          { at: `2026-04-0${i + 1}T11:00:00Z`, kind: 'ftd' as const, player: p, amount: '50', currency: USD },
        ]),
        { at: '2026-04-10T10:00:00Z', kind: 'player_status', player: 'p3', status: 'duplicate' },
      ],
    })
    // p1 and p2 back at 250
    expect(total(s, '2026-04')).toBe('500.00')
  })

  it("a reversal takes back the recruiter's share from the recruiter that was paid it, at its rate", () => {
    const s = scenario({
      affiliates: [
        {
          id: 1,
          parents: [
            { parentId: 2, from: '2026-01-01' },
            { parentId: 3, from: '2026-03-05' },
          ],
        },
        { id: 2 },
        { id: 3 },
      ],
      deals: [
        cpaDeal({ cpa: { amount: '100', holdDays: 30 } }),
        { id: 'p2', affiliateId: 2, versions: [{ effectiveFrom: '2026-01-01', terms: { currency: USD, subAffiliate: { tiers: ['0.10'] } } }] },
        { id: 'p3', affiliateId: 3, versions: [{ effectiveFrom: '2026-01-01', terms: { currency: USD, subAffiliate: { tiers: ['0.20'] } } }] },
      ],
      events: [
        reg('p', '2026-03-01T10:00:00Z'),
        { at: '2026-03-01T11:00:00Z', kind: 'ftd', player: 'p', amount: '50', currency: USD },
        { at: '2026-03-10T10:00:00Z', kind: 'player_status', player: 'p', status: 'kyc_failed' },
      ],
    })
    expect(total(s, '2026-03', '2')).toBe('0.00')
    expect(simulate(s).totals['3']).toBeUndefined()
  })

  it('refunding a reset takes back its share, not the CPA that rests on the first purchase', () => {
    const s = scenario({
      deals: [cpaDeal({ prop: { firstPurchase: '0.20', reset: '0.10', refundWindowDays: 7 }, cpa: { amount: '50', holdDays: 7 } })],
      events: [
        reg('t', '2026-03-01T10:00:00Z'),
        { at: '2026-03-01T11:00:00Z', kind: 'challenge_purchase', player: 't', id: 'buy', amount: '500', currency: USD },
        { at: '2026-03-02T11:00:00Z', kind: 'challenge_reset', player: 't', id: 'reset', amount: '100', currency: USD },
        { at: '2026-03-03T11:00:00Z', kind: 'challenge_refund', player: 't', amount: '100', currency: USD, details: { ref_event_id: 'reset' } },
      ],
    })
    expect(total(s, '2026-03')).toBe('150.00')
  })

  it('a CPA whose deal changed currency is reversed in the currency it was paid in', () => {
    const s = scenario({
      deals: [
        {
          id: 'd',
          affiliateId: 1,
          versions: [
            { effectiveFrom: '2026-01-01', terms: { currency: USD, cpa: { amount: '100', holdDays: 30 } } },
            { effectiveFrom: '2026-03-05', terms: { currency: 'EUR', cpa: { amount: '90', holdDays: 30 } } },
          ],
        },
      ],
      events: [
        reg('p', '2026-03-01T10:00:00Z'),
        { at: '2026-03-01T11:00:00Z', kind: 'ftd', player: 'p', amount: '50', currency: USD },
        { at: '2026-03-10T10:00:00Z', kind: 'player_status', player: 'p', status: 'self_excluded' },
      ],
    })
    expect(simulate(s).lines.map((l) => [l.kind, l.amount, l.currency])).toEqual([
      ['cpa', '100', USD],
      ['reversal', '-100', USD],
    ])
  })

  it('rotating the pseudonym secret changes no id and no hash', () => {
    const s = load('qualified-cpa.scenario.json')
    const { facts, ref } = scenarioFacts(s)
    const a = new InProcessStage(ref)
    a.apply(facts)
    const b = new InProcessStage(ref)
    b.apply(facts.map((f) => (f.type === 'close' || f.type === 'adjust' ? f : { ...f, playerRef: `rotated-${f.playerRef}` })))
    expect(b.lines.map((l) => [l.id, l.hash])).toEqual(a.lines.map((l) => [l.id, l.hash]))
    expect(b.lines.some((l) => l.playerRef.startsWith('rotated-'))).toBe(true)
  })

  it('line ids are unique in every chain of every scenario', () => {
    for (const f of files) {
      const ids = simulate(load(f)).lines.map((l) => `${l.affiliateId} ${l.id}`)
      expect(new Set(ids).size, f).toBe(ids.length)
    }
  })
})

describe('scenario validation', () => {
  it("the README's example scenario runs", () => {
    const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8')
    const json = /## Commission simulator[\s\S]*?```json\n([\s\S]*?)```/.exec(readme)?.[1]
    expect(json).toBeDefined()
    const s = ScenarioSchema.parse(JSON.parse(json!))
    expect(totalsOf(s, simulate(s))).toEqual(s.expect)
  })

  it.each(['2026-02-30', '2026-13-01', '2026-03-04T10:00:00', '4 March', '2026-03-04T25:00:00Z'])('refuses the time %s', (at) => {
    const r = ScenarioSchema.safeParse({ program: { currency: USD }, deals: [], events: [{ at, kind: 'registration', player: 'p' }] })
    expect(r.success).toBe(false)
    expect(r.error?.issues[0]?.path).toEqual(['events', 0, 'at'])
  })

  it.each([
    ['a rate above 1', { revshare: { bands: [{ from: '0', rate: '1.5' }] } }, /fraction between 0 and 1/],
    ['a negative CPA', { cpa: { amount: '-5' } }, /must not be negative/],
    [
      'bands out of order',
      {
        revshare: {
          bands: [
            { from: '0', rate: '0.2' },
            { from: '0', rate: '0.3' },
          ],
        },
      },
      /increasing/,
    ],
    ['no model at all', {}, /at least one model/],
    ['an unknown term', { cpa: { amount: '5', bonus: 1 } }, /unrecognized key/i],
    [
      'a band start that is not a number',
      {
        revshare: {
          bands: [
            { from: '0', rate: '0.2' },
            { from: 'x', rate: '0.3' },
          ],
        },
      },
      /decimal number/,
    ],
  ])('refuses %s, saying why', (_n, terms, msg) => {
    const r = ScenarioSchema.safeParse({ program: { currency: USD }, deals: [cpaDeal(terms)], events: [] })
    expect(r.success).toBe(false)
    expect(JSON.stringify(r.error?.issues)).toMatch(msg)
  })
})
