import { describe, expect, it } from 'vitest'
import { actionOf, counterOf, deadLetter, deadLetterText, drop, ok, park, retryDelayMs, type StepResult } from './results.js'

describe('step results', () => {
  it.each<[string, StepResult<number, string>, string, string | undefined]>([
    ['ok', ok(1), 'write', undefined],
    ['ok with an outcome', ok(1, 'valid'), 'write', 'click.valid'],
    ['park', park(1), 'hold', 'click.parked'],
    ['park with an outcome', park(1, 'deposit.parked.awaiting_registration'), 'hold', 'click.deposit.parked.awaiting_registration'],
    ['drop', drop('already_applied'), 'skip', 'click.already_applied'],
    ['dead letter', deadLetter('invalid_click'), 'dead_letter', 'click.invalid_click'],
    ['dead letter with detail', deadLetter('invalid_conversion', 'amount: bad'), 'dead_letter', 'click.invalid_conversion'],
  ])('%s: stream action and counter', (_name, r, action, counter) => {
    expect(actionOf(r)).toBe(action)
    expect(counterOf('click', r)).toBe(counter)
  })

  it('a dead letter carries its reason, with the detail after a colon', () => {
    expect(deadLetterText(deadLetter('undecodable'))).toBe('undecodable')
    expect(deadLetterText(deadLetter('invalid_conversion', 'kind ftd on a registration subject'))).toBe(
      'invalid_conversion: kind ftd on a registration subject',
    )
  })

  it('the constructors build exactly the shapes the mapping reads', () => {
    expect(ok('v')).toEqual({ type: 'ok', value: 'v' })
    expect(park('v', 'x')).toEqual({ type: 'park', value: 'v', outcome: 'x' })
    expect(drop('r')).toEqual({ type: 'drop', reason: 'r' })
    expect(deadLetter('r', 'd')).toEqual({ type: 'dead_letter', reason: 'r', detail: 'd' })
  })

  it.each([
    [1, 100],
    [2, 200],
    [3, 400],
    [6, 3200],
    [7, 5000],
    [50, 5000],
    [10_000, 5000],
  ])('a failed batch waits exponentially, capped: after try %i, %i ms', (tries, ms) => {
    expect(retryDelayMs(tries)).toBe(ms)
  })
})
