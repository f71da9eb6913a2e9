import { describe, expect, it } from 'vitest'
import { PostbackSchema } from './postbacks.js'

type Input = Record<string, unknown>

/** The issues of a failed parse as { path: message }, first message per path. */
function issues(input: Input): Record<string, string> {
  const r = PostbackSchema.safeParse(input)
  if (r.success) return {}
  const out: Record<string, string> = {}
  for (const i of r.error.issues) out[i.path.join('.') || '_'] ??= i.message
  return out
}

describe('PostbackSchema: valid postbacks', () => {
  it.each<[string, Input, Input]>([
    [
      'GET-style registration (all strings)',
      { source: '3', token: 'tok', event: 'registration', event_id: 'reg-1', player_id: 'P-1001', click_id: 'abc' },
      { source: 3, token: 'tok', event: 'registration', event_id: 'reg-1', player_id: 'P-1001', click_id: 'abc' },
    ],
    [
      'registration without a click (organic)',
      { source: '1', event: 'registration', event_id: 'r', player_id: 'p' },
      { source: 1, event: 'registration', event_id: 'r', player_id: 'p' },
    ],
    [
      'GET-style ftd with amount and lowercase currency',
      { source: '3', event: 'ftd', event_id: 'dep-9', player_id: 'P-1001', amount: '25.50', currency: 'eur' },
      { source: 3, event: 'ftd', event_id: 'dep-9', player_id: 'P-1001', amount: '25.50', currency: 'EUR' },
    ],
    [
      'JSON-style ftd with numeric source and amount',
      { source: 3, event: 'ftd', event_id: 'dep-10', player_id: 'P-1', amount: 100, currency: 'USD' },
      { source: 3, event: 'ftd', event_id: 'dep-10', player_id: 'P-1', amount: '100', currency: 'USD' },
    ],
    [
      'ftd with click_id only (cookieless)',
      { source: '2', event: 'ftd', event_id: 'e', click_id: 'CLICKID', amount: '10', currency: 'GBP' },
      { source: 2, event: 'ftd', event_id: 'e', click_id: 'CLICKID', amount: '10', currency: 'GBP' },
    ],
    [
      'ftd of zero',
      { source: '2', event: 'ftd', event_id: 'e', player_id: 'p', amount: '0', currency: 'EUR' },
      { source: 2, event: 'ftd', event_id: 'e', player_id: 'p', amount: '0', currency: 'EUR' },
    ],
    [
      'printable ASCII punctuation in ids',
      { source: '1', event: 'registration', event_id: 'a:b/c-d_e.f~!', player_id: '{p}=1' },
      { source: 1, event: 'registration', event_id: 'a:b/c-d_e.f~!', player_id: '{p}=1' },
    ],
    [
      '128-character ids (the limit)',
      { source: '1', event: 'registration', event_id: 'e'.repeat(128), player_id: 'p'.repeat(128), click_id: 'c'.repeat(128) },
      { source: 1, event: 'registration', event_id: 'e'.repeat(128), player_id: 'p'.repeat(128), click_id: 'c'.repeat(128) },
    ],
    [
      'registration with an amount and currency',
      { source: '1', event: 'registration', event_id: 'r', player_id: 'p', amount: '5', currency: 'EUR' },
      { source: 1, event: 'registration', event_id: 'r', player_id: 'p', amount: '5', currency: 'EUR' },
    ],
  ])('%s', (_name, input, want) => {
    const r = PostbackSchema.safeParse(input)
    expect(r.success ? r.data : r.error.issues).toEqual(want)
  })

  it('drops unknown fields (commission fields sent by a caller are ignored)', () => {
    const r = PostbackSchema.parse({ source: '1', event: 'registration', event_id: 'r', player_id: 'p', commission: '1000', affiliate_id: '9' })
    expect(r).not.toHaveProperty('commission')
    expect(r).not.toHaveProperty('affiliate_id')
  })
})

describe('PostbackSchema: rejected postbacks', () => {
  const reg = { source: '3', event: 'registration', event_id: 'r-1', player_id: 'P-1' }
  const ftd = { source: '3', event: 'ftd', event_id: 'f-1', player_id: 'P-1', amount: '20', currency: 'EUR' }

  it.each<[string, Input, string, RegExp]>([
    ['registration without player_id', { ...reg, player_id: undefined }, 'player_id', /required for a registration/],
    ['registration with only a click_id', { ...reg, player_id: undefined, click_id: 'c' }, 'player_id', /required for a registration/],
    ['registration with an empty player_id', { ...reg, player_id: '' }, 'player_id', /.+/],
    ['ftd with neither player_id nor click_id', { ...ftd, player_id: undefined }, 'player_id', /player_id or click_id/],
    ['ftd without amount', { ...ftd, amount: undefined }, 'amount', /required for an ftd/],
    ['amount without currency', { ...ftd, currency: undefined }, 'currency', /required with an amount/],
    ['amount without currency on a registration', { ...reg, amount: '5' }, 'currency', /required with an amount/],
    ['negative amount', { ...ftd, amount: '-20' }, 'amount', /must not be negative/],
    ['negative zero', { ...ftd, amount: '-0.00' }, 'amount', /must not be negative/],
    ['negative JSON number', { ...ftd, amount: -5 }, 'amount', /must not be negative/],
    ['amount in exponent form', { ...ftd, amount: '1e3' }, 'amount', /decimal number/],
    ['amount with 13 decimals', { ...ftd, amount: '1.0000000000001' }, 'amount', /decimal number/],
    ['amount with a comma', { ...ftd, amount: '20,00' }, 'amount', /decimal number/],
    ['bad currency', { ...ftd, currency: 'EURO' }, 'currency', /ISO 4217/],
    ['bad event name', { ...ftd, event: 'deposit' }, 'event', /must be one of registration, ftd/],
    ['event name in another case', { ...ftd, event: 'FTD' }, 'event', /must be one of/],
    ['missing event', { ...ftd, event: undefined }, 'event', /must be one of/],
    ['event_id with a space', { ...ftd, event_id: 'f 1' }, 'event_id', /printable ASCII without spaces/],
    ['event_id with a tab', { ...ftd, event_id: 'f\t1' }, 'event_id', /printable ASCII/],
    ['event_id with non-ASCII', { ...ftd, event_id: 'fé' }, 'event_id', /printable ASCII/],
    ['empty event_id', { ...ftd, event_id: '' }, 'event_id', /.+/],
    ['missing event_id', { ...ftd, event_id: undefined }, 'event_id', /.+/],
    ['event_id of 129 characters', { ...ftd, event_id: 'e'.repeat(129) }, 'event_id', /.+/],
    ['player_id of 129 characters', { ...ftd, player_id: 'p'.repeat(129) }, 'player_id', /.+/],
    ['click_id of 129 characters', { ...ftd, click_id: 'c'.repeat(129) }, 'click_id', /.+/],
    ['click_id with a newline', { ...ftd, click_id: 'c\n' }, 'click_id', /printable ASCII/],
    ['player_id with a space', { ...ftd, player_id: 'P 1' }, 'player_id', /printable ASCII/],
    ['source not a number', { ...ftd, source: 'abc' }, 'source', /numeric id of a postback source/],
    ['source zero', { ...ftd, source: '0' }, 'source', /.+/],
    ['source negative', { ...ftd, source: '-3' }, 'source', /.+/],
    ['source fractional', { ...ftd, source: '1.5' }, 'source', /.+/],
    ['source empty (coerces to 0)', { ...ftd, source: '' }, 'source', /.+/],
    ['source repeated in a query string', { ...ftd, source: ['3', '4'] }, 'source', /.+/],
    ['event_id repeated in a query string', { ...ftd, event_id: ['a', 'b'] }, 'event_id', /.+/],
    ['token not a string', { ...ftd, token: ['a', 'b'] }, 'token', /.+/],
  ])('%s → %s', (_name, input, path, message) => {
    const got = issues(input)
    expect(Object.keys(got)).toContain(path)
    expect(got[path]).toMatch(message)
  })

  it('reports every problem of an ftd that lacks player, click, amount', () => {
    const got = issues({ source: '3', event: 'ftd', event_id: 'f' })
    expect(got.player_id).toMatch(/player_id or click_id/)
    expect(got.amount).toMatch(/required for an ftd/)
  })
})
