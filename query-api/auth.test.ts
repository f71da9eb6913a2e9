import { describe, expect, it } from 'vitest'
import { Auth, HttpError, requireOperator, scopeAffiliate, type Principal } from './auth.js'

const OPERATOR_KEY = 'operator-key-for-unit-tests-0001'
const TOKEN_SECRET = 'token-secret-for-unit-tests-0001'
const NOW = 1_750_000_000_000
const HOUR = 3_600_000

const auth = new Auth(OPERATOR_KEY, TOKEN_SECRET)
const operator: Principal = { kind: 'operator' }
const aff7: Principal = { kind: 'affiliate', affiliateId: 7 }

function httpError(fn: () => unknown): HttpError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(HttpError)
    return e as HttpError
  }
  throw new Error('expected an HttpError')
}

describe('Auth.resolve: operator key', () => {
  it('accepts the operator key', () => {
    expect(auth.resolve(OPERATOR_KEY, NOW)).toEqual({ kind: 'operator' })
  })

  it.each<[string, string | undefined]>([
    ['undefined', undefined],
    ['empty', ''],
    ['wrong key of the same length', OPERATOR_KEY.slice(0, -1) + 'X'],
    ['prefix of the key', OPERATOR_KEY.slice(0, -1)],
    ['key plus a character', OPERATOR_KEY + 'x'],
    ['key with whitespace', ` ${OPERATOR_KEY}`],
    ['the token secret', TOKEN_SECRET],
    ['another case', OPERATOR_KEY.toUpperCase()],
  ])('rejects %s', (_name, cred) => {
    expect(auth.resolve(cred, NOW)).toBeUndefined()
  })
})

describe('Auth.resolve: affiliate tokens', () => {
  const exp = NOW + HOUR
  const token = auth.issueAffiliateToken(7, exp)
  const [, , , mac] = token.split('.') as [string, string, string, string]

  it('has the form aff.<id>.<expiry>.<mac>', () => {
    expect(token).toMatch(/^aff\.7\.\d+\.[A-Za-z0-9_-]{43}$/)
    expect(token.startsWith(`aff.7.${exp}.`)).toBe(true)
  })

  it('roundtrips to the affiliate it was issued for', () => {
    expect(auth.resolve(token, NOW)).toEqual({ kind: 'affiliate', affiliateId: 7 })
    expect(new Auth(OPERATOR_KEY, TOKEN_SECRET).resolve(token, NOW)).toEqual({ kind: 'affiliate', affiliateId: 7 })
    expect(auth.resolve(auth.issueAffiliateToken(123456, exp), NOW)).toEqual({ kind: 'affiliate', affiliateId: 123456 })
  })

  it('is valid until 1 ms before expiry and refused at and after it', () => {
    expect(auth.resolve(token, exp - 1)).toEqual({ kind: 'affiliate', affiliateId: 7 })
    expect(auth.resolve(token, exp)).toBeUndefined()
    expect(auth.resolve(token, exp + 1)).toBeUndefined()
    expect(auth.resolve(auth.issueAffiliateToken(7, NOW - HOUR), NOW)).toBeUndefined()
  })

  const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1)

  it.each<[string, string]>([
    ['another affiliate id', `aff.8.${exp}.${mac}`],
    ['a later expiry', `aff.7.${exp + HOUR * 24 * 365}.${mac}`],
    ['an earlier expiry with the same mac', `aff.7.${exp - 1}.${mac}`],
    ['one mac character changed', `aff.7.${exp}.${flip(mac)}`],
    ['the last mac character changed', `aff.7.${exp}.${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`],
    ['a truncated mac', `aff.7.${exp}.${mac.slice(0, -1)}`],
    ['no mac', `aff.7.${exp}.`],
    ['no mac segment', `aff.7.${exp}`],
    ['affiliate 0', `aff.0.${exp}.${new Auth(OPERATOR_KEY, TOKEN_SECRET).issueAffiliateToken(0, exp).split('.')[3]}`],
    ['negative affiliate', `aff.-7.${exp}.${mac}`],
    ['non-numeric id', `aff.x.${exp}.${mac}`],
    ['non-numeric expiry', `aff.7.never.${mac}`],
    ['just the prefix', 'aff.'],
    // other spellings of the same claims: one credential, one spelling
    ['an extra segment', `aff.7.${exp}.${mac}.extra`],
    ['a leading zero in the id', `aff.07.${exp}.${mac}`],
    ['a hex id', `aff.0x7.${exp}.${mac}`],
    ['an expiry in exponent form', `aff.7.${exp.toExponential()}.${mac}`],
  ])('rejects a tampered token: %s', (_name, cred) => {
    expect(auth.resolve(cred, NOW)).toBeUndefined()
  })

  it('rejects a token signed with another secret', () => {
    const other = new Auth(OPERATOR_KEY, 'a-completely-different-token-secret').issueAffiliateToken(7, exp)
    expect(auth.resolve(other, NOW)).toBeUndefined()
  })

  it('an affiliate token is not an operator key and vice versa', () => {
    expect(auth.resolve(token, NOW)?.kind).toBe('affiliate')
    const keyedLikeToken = new Auth(token, TOKEN_SECRET)
    // a credential starting with "aff." is always read as a token, never compared as a key
    expect(keyedLikeToken.resolve(token, NOW)).toEqual({ kind: 'affiliate', affiliateId: 7 })
    expect(keyedLikeToken.resolve(token, exp)).toBeUndefined()
  })
})

describe('requireOperator', () => {
  it('lets the operator through', () => {
    expect(() => requireOperator(operator)).not.toThrow()
  })

  it('refuses an affiliate with 403', () => {
    const e = httpError(() => requireOperator(aff7))
    expect(e.status).toBe(403)
    expect(e.error).toBe('forbidden')
  })
})

describe('scopeAffiliate', () => {
  it.each<[string, Principal, number | undefined, number | undefined]>([
    ['operator, no affiliate asked → all', operator, undefined, undefined],
    ['operator, affiliate asked → that one', operator, 9, 9],
    ['affiliate, nothing asked → pinned to itself', aff7, undefined, 7],
    ['affiliate, itself asked → itself', aff7, 7, 7],
  ])('%s', (_name, p, asked, want) => {
    expect(scopeAffiliate(p, asked)).toBe(want)
  })

  it.each([8, 0, -7, 70])('throws 403 when affiliate 7 asks for affiliate %i', (asked) => {
    const e = httpError(() => scopeAffiliate(aff7, asked))
    expect(e.status).toBe(403)
    expect(e.error).toBe('forbidden')
    expect(e.message).toMatch(/own data/)
  })
})

describe('HttpError', () => {
  it('carries status, error code, reason and fields', () => {
    const e = new HttpError(400, 'invalid', 'bad thing', { x: 'y' })
    expect(e).toBeInstanceOf(Error)
    expect([e.status, e.error, e.reason, e.message, e.fields]).toEqual([400, 'invalid', 'bad thing', 'bad thing', { x: 'y' }])
  })
})

describe('a suspended affiliate', () => {
  const suspended = new Set([7])
  const a = new Auth(OPERATOR_KEY, TOKEN_SECRET, (id) => suspended.has(id))
  const req = (token: string) => ({ headers: { authorization: `Bearer ${token}` } }) as unknown as Parameters<Auth['fromRequest']>[0]

  it('opens nothing: 403 with the reason on the API, no principal on the WebSocket', () => {
    const t7 = a.issueAffiliateToken(7, Date.now() + HOUR)
    expect(a.resolve(t7, Date.now())).toBeUndefined()
    const e = httpError(() => a.fromRequest(req(t7)))
    expect([e.status, e.error]).toEqual([403, 'affiliate_suspended'])
  })

  it('leaves other affiliates and the operator alone, and is lifted with the suspension', () => {
    const t8 = a.issueAffiliateToken(8, Date.now() + HOUR)
    expect(a.fromRequest(req(t8))).toEqual({ kind: 'affiliate', affiliateId: 8 })
    expect(a.fromRequest(req(OPERATOR_KEY))).toEqual(operator)
    suspended.delete(7)
    expect(a.fromRequest(req(a.issueAffiliateToken(7, Date.now() + HOUR)))).toEqual(aff7)
  })
})
