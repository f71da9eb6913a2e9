/** Geo rules of links as a table: who passes, who is blocked, who is sent elsewhere. */
import { describe, expect, it } from 'vitest'
import { countryOf, geoDecision, type GeoDecision } from './geo.js'

const block = { outside: 'block' as const }
const redirect = { outside: 'redirect' as const, redirectUrl: 'https://other.example/' }

describe('geoDecision', () => {
  it.each<[string, Parameters<typeof geoDecision>[0], string[], string, GeoDecision]>([
    ['no rule: everyone passes', undefined, ['DE'], 'GB', { action: 'pass' }],
    ['a rule without markets: everyone passes', block, [], 'GB', { action: 'pass' }],
    ['in the markets', block, ['DE', 'AT'], 'AT', { action: 'pass' }],
    ['outside, block', block, ['DE', 'AT'], 'GB', { action: 'block', country: 'GB' }],
    ['outside, redirect', redirect, ['DE'], 'GB', { action: 'redirect', country: 'GB', url: 'https://other.example/' }],
    ['unknown country counts as outside', block, ['DE'], '', { action: 'block', country: '' }],
    ['unknown country, redirect', redirect, ['DE'], '', { action: 'redirect', country: '', url: 'https://other.example/' }],
    ['a redirect rule without a target blocks', { outside: 'redirect' }, ['DE'], 'FR', { action: 'block', country: 'FR' }],
  ])('%s', (_what, rule, markets, country, want) => {
    expect(geoDecision(rule, markets, () => country)).toEqual(want)
  })

  it('looks the country up only when a rule with markets applies', () => {
    let lookups = 0
    const country = () => (lookups++, 'GB')
    geoDecision(undefined, ['DE'], country)
    geoDecision(block, [], country)
    expect(lookups).toBe(0)
    geoDecision(block, ['DE'], country)
    expect(lookups).toBe(1)
  })
})

describe('countryOf', () => {
  it.each([
    ['85.214.132.117', 'DE'],
    ['81.2.69.142', 'GB'],
    ['::ffff:81.2.69.142', 'GB'],
    ['10.0.0.1', ''],
    ['127.0.0.1', ''],
    ['not an ip', ''],
    ['', ''],
  ])('%s → %j', (ip, cc) => {
    expect(countryOf(ip)).toBe(cc)
  })
})
