/**
 * Settlement properties over generated programs (fast-check): CPAs with holds and chargebacks,
 * a sub-affiliate recruiter, RevShare with and without carryover, challenge fees and refunds,
 * events that arrive late, and month closes among them at random times. For every program:
 *
 *   - the ledger lines a statement takes add up to its lines, to the last decimal (its rounding
 *     lines in), and every line of a closed month is on exactly one statement or still waits;
 *   - any split of the stream into batches, with batches delivered again, gives the same
 *     statements and ledger (a replay from the start is such a run);
 *   - a fact that arrives after its month closed writes its lines into an open month.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { D } from '../common/money.js'
import { periodKindOf } from '../common/periods.js'
import type { NumberedLine } from './domain/commission/affiliate.js'
import { collect } from '../common/statement.js'
import { ScenarioSchema, scenarioFacts, simulate, type Scenario, type ScenarioInput } from './simulator.js'
import { inBatches } from '../test/helpers/batches.js'

const DAY = 86_400_000
const START = Date.UTC(2026, 2, 1) // 1 March

type Item = { arrive: number; event: ScenarioInput['events'][number] }

/** A program over March to June: its events in arrival order, with month closes among them. */
const program = fc
  .record({
    holdDays: fc.constantFrom(0, 7, 40),
    carryover: fc.boolean(),
    players: fc.array(
      fc.record({
        aff: fc.constantFrom(1, 2, 3),
        day: fc.integer({ min: 0, max: 110 }),
        // most events come on time; some a few days, some weeks late
        late: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 45 }) }),
        amount: fc.integer({ min: 1, max: 500_000 }).map((c) => new D(c).div(100).toFixed()),
        wins: fc.integer({ min: 0, max: 900_000 }).map((c) => new D(c).div(100).toFixed()),
        refundAfter: fc.option(fc.integer({ min: 1, max: 60 }), { nil: undefined }),
      }),
      { minLength: 1, maxLength: 14 },
    ),
    // when each month is closed: days after it ends
    closeAfter: fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 3, maxLength: 3 }),
  })
  .map((g): Scenario => {
    const items: Item[] = []
    g.players.forEach((p, i) => {
      const player = `p${i}`
      const at = (d: number) => new Date(START + d * DAY + i * 60_000).toISOString()
      const arrive = (d: number) => START + (d + p.late) * DAY + i * 60_000
      const add = (d: number, e: Record<string, unknown>) => items.push({ arrive: arrive(d), event: { at: at(d), player, affiliate: p.aff, ...e } as Item['event'] })
      add(p.day, { kind: 'registration', id: `reg-${i}` })
      if (p.aff === 1) {
        add(p.day, { kind: 'ftd', id: `ftd-${i}`, amount: p.amount, currency: 'USD' })
        if (p.refundAfter) add(p.day + p.refundAfter, { kind: 'chargeback', id: `cb-${i}`, amount: p.amount, currency: 'USD', details: { ref_event_id: `ftd-${i}` } })
      } else if (p.aff === 2) {
        add(p.day, { kind: 'activity', id: `act-${i}`, currency: 'USD', details: { date: at(p.day).slice(0, 10), bets: p.amount, wins: p.wins } })
      } else {
        add(p.day, { kind: 'challenge_purchase', id: `buy-${i}`, amount: p.amount, currency: 'USD', details: { challenge_id: `c${i}` } })
        if (p.refundAfter) add(p.day + p.refundAfter, { kind: 'challenge_refund', id: `ref-${i}`, amount: p.amount, currency: 'USD', details: { ref_event_id: `buy-${i}` } })
      }
    })
    ;['2026-03', '2026-04', '2026-05'].forEach((period, k) => {
      const at = Date.UTC(2026, 3 + k, 1) + g.closeAfter[k]! * DAY + 1
      items.push({ arrive: at, event: { at: new Date(at).toISOString(), close: period } })
    })
    // the stream's order is arrival order; a player's events keep theirs
    items.sort((a, b) => a.arrive - b.arrive)
    return ScenarioSchema.parse({
      program: { currency: 'USD', paymentThreshold: { USD: '50' } },
      affiliates: [{ id: 1 }, { id: 2 }, { id: 3, parentId: 1 }],
      deals: [
        { id: 'cpa', affiliateId: 1, versions: [{ effectiveFrom: '2026-01-01', terms: { currency: 'USD', cpa: { amount: '100', holdDays: g.holdDays, retroTiers: [{ at: 3, amount: '120' }] }, subAffiliate: { tiers: ['0.1'] } } }] },
        { id: 'rs', affiliateId: 2, versions: [{ effectiveFrom: '2026-01-01', terms: { currency: 'USD', revshare: { bands: [{ from: '0', rate: '0.25' }], carryover: g.carryover } } }] },
        { id: 'prop', affiliateId: 3, versions: [{ effectiveFrom: '2026-01-01', terms: { currency: 'USD', prop: { firstPurchase: '0.1', reset: '0.1', refundWindowDays: 7 } } }] },
      ],
      events: items.map((x) => x.event),
    })
  })

const closesOf = (s: Scenario) => s.events.flatMap((e, i) => ('close' in e ? [{ period: e.close, asOf: e.at, seq: i + 1 }] : []))

describe('settlement properties', () => {
  it('every line of a closed month is on exactly one statement or still waits, and a statement adds up to its lines', () => {
    fc.assert(
      fc.property(program, (s) => {
        const r = simulate(s)
        const closes = closesOf(s)
        const chains = new Map<number, NumberedLine[]>()
        for (const l of r.lines) chains.set(l.affiliateId, [...(chains.get(l.affiliateId) ?? []), l])
        for (const [aff, chain] of chains) {
          const mine = r.statements.filter((x) => x.affiliateId === aff)
          let prev: { period: string; asOf: number; no: number } | undefined
          let taken = new D(0)
          for (const st of mine) {
            const c = closes.find((x) => x.period === st.period)!
            // read again from the ledger, rounding lines in: the lines add up to the statement
            const again = collect(chain.slice(0, st.seal.no), { period: c.period, asOf: c.asOf, ...(prev ? { previous: prev } : {}) })
            const sum = again.groups.reduce((t, g) => t.plus(g.sum), new D(0))
            const lines = st.lines.reduce((t, l) => t.plus(l.amount), new D(0))
            expect(sum.eq(lines), `${aff} ${st.period}: ledger ${sum} statement ${lines}`).toBe(true)
            taken = taken.plus(sum)
            prev = { period: c.period, asOf: c.asOf, no: st.seal.no }
            // what waits at the last close, and every line of a closed month
            if (st === mine.at(-1)) {
              const waiting = Object.values(again.waiting).reduce((t, w) => t.plus(w.pending).plus(w.held), new D(0))
              const all = chain.slice(0, st.seal.no).filter((l) => l.period <= st.period && periodKindOf(l.period) === 'month').reduce((t, l) => t.plus(l.amount), new D(0))
              expect(taken.plus(waiting).eq(all), `${aff}: taken ${taken} + waiting ${waiting} ≠ ${all}`).toBe(true)
            }
          }
        }
      }),
      { numRuns: 150 },
    )
  })

  it('any split into batches, with batches delivered again, gives the same statements and ledger', () => {
    fc.assert(
      fc.property(program, fc.array(fc.integer({ min: 1, max: 6 }), { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 4 }), (s, sizes, again) => {
        const want = simulate(s)
        const { facts, ref } = scenarioFacts(s)
        const stage = inBatches(facts, ref, sizes, again)
        expect(stage.lines.map((l) => l.hash)).toEqual(want.lines.map((l) => l.hash))
        expect(stage.statements).toEqual(want.statements)
      }),
      { numRuns: 100 },
    )
  })

  it('a fact that arrives after its month closed writes into an open month (a reversal keeps the month of the line it reverses)', () => {
    fc.assert(
      fc.property(program, (s) => {
        const r = simulate(s)
        const closes = closesOf(s)
        for (const l of r.lines) {
          if (l.kind === 'reversal' || l.kind === 'rounding' || l.causeEventId.startsWith('close:')) continue
          const closedBefore = closes.filter((c) => c.seq < l.seq).at(-1)
          if (closedBefore) expect(l.period > closedBefore.period, `${l.id} (${l.kind}, ${l.period}) written after ${closedBefore.period} closed`).toBe(true)
        }
      }),
      { numRuns: 150 },
    )
  })
})
