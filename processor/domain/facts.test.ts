import { describe, expect, it } from 'vitest'
import type { ConversionEvent } from '../../common/events.js'
import { factDay, factsOf } from './facts.js'

type Ev = Pick<ConversionEvent, 'kind' | 'amount' | 'details'>

describe('money facts per event kind', () => {
  it.each<[string, Ev, Record<string, string>]>([
    // DOMAIN.md: player activity per day (bets, wins, bonuses, fees, adjustments)
    [
      'activity with bets, wins and bonuses',
      { kind: 'activity', details: { date: '2026-11-23', bets: '1000', wins: '850.5', bonuses: '25', fees: '2', adjustments: '-10' } },
      { bets: '1000', wins: '850.5', bonuses: '25', fees: '2', adjustments: '-10' },
    ],
    // DOMAIN.md: a Forex trade, 57.71 lots; a spread share of 5 lots × $13.6
    ['a trade with lots and spread', { kind: 'trade', details: { instrument: 'EURUSD', lots: '57.71', spread: '13.6', commission: '3.5' } }, { lots: '57.71', spread: '13.6', commission: '3.5' }],
    ['a trade with lots only', { kind: 'trade', details: { instrument: 'XAUUSD', lots: '0.01' } }, { lots: '0.01' }],
    // DOMAIN.md: prop trading, % of the challenge fee on purchase
    ['a challenge purchase', { kind: 'challenge_purchase', amount: '155', details: { challenge_id: 'CH-1', plan: '100k' } }, { challenge_fees: '155' }],
    ['a challenge reset', { kind: 'challenge_reset', amount: '99.99' }, { challenge_fees: '99.99' }],
    ['a challenge refund', { kind: 'challenge_refund', amount: '155' }, { refunds: '155' }],
    ['a funded challenge carries no money', { kind: 'challenge_funded', amount: '100000', details: { challenge_id: 'CH-1' } }, {}],
    ['an FTD is a deposit', { kind: 'ftd', amount: '50.00' }, { deposits: '50.00' }],
    ['a deposit', { kind: 'deposit', amount: '20' }, { deposits: '20' }],
    ['a withdrawal', { kind: 'withdrawal', amount: '300' }, { withdrawals: '300' }],
    ['a chargeback', { kind: 'chargeback', amount: '50', details: { ref_event_id: 'dep-1' } }, { chargebacks: '50' }],
    ['a refund', { kind: 'refund', amount: '12.5', details: { ref_event_id: 'dep-2' } }, { refunds: '12.5' }],
    ['a registration has none', { kind: 'registration' }, {}],
    ['a registration with an amount still has none', { kind: 'registration', amount: '5' }, {}],
    ['a deposit without an amount has none', { kind: 'deposit' }, {}],
  ])('%s', (_name, e, want) => {
    expect(factsOf(e)).toEqual(want)
  })

  it("an activity's money belongs to its reported day; anything else to its UTC date", () => {
    const ts = Date.UTC(2026, 10, 24, 0, 5)
    expect(factDay({ kind: 'activity', ts, details: { date: '2026-11-23', bets: '1' } })).toBe('2026-11-23')
    expect(factDay({ kind: 'deposit', ts, details: {} })).toBe('2026-11-24')
    expect(factDay({ kind: 'deposit', ts: Date.UTC(2026, 10, 23, 23, 59, 59, 999) })).toBe('2026-11-23')
  })
})
