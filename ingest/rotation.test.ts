/**
 * A rotated source: its previous token or HMAC key keeps working until previousValidUntil,
 * and is refused after (with a reason that says it was replaced); the current one always works.
 */
import { describe, expect, it } from 'vitest'
import { sha256hex, type Source } from '../common/entities.js'
import { IpAllowList } from '../common/ipallow.js'
import { authenticate, signPostback } from './postbacks.js'

const NOW = Date.UTC(2026, 10, 28, 12, 0, 0)
const UNTIL = NOW + 3_600_000
const any = new IpAllowList([])

const tokenSource: Source = {
  id: 1,
  name: 'token',
  auth: 'token',
  ipAllow: [],
  fieldMap: {},
  eventMap: {},
  tokenHash: sha256hex('new-token-0123456789'),
  previousTokenHash: sha256hex('old-token-0123456789'),
  previousValidUntil: UNTIL,
  createdAt: 0,
}
const hmacSource: Source = {
  id: 2,
  name: 'hmac',
  auth: 'hmac',
  ipAllow: [],
  fieldMap: {},
  eventMap: {},
  tokenHash: '',
  hmacSecret: 'new-key-0123456789',
  previousHmacSecret: 'old-key-0123456789',
  previousValidUntil: UNTIL,
  createdAt: 0,
}

const withToken = (token: string, now: number, s: Source = tokenSource) => authenticate(s, { ip: '1.2.3.4', headers: {}, token, payload: '' }, any, now)
const withKey = (key: string, now: number, s: Source = hmacSource) => {
  const ts = String(Math.floor(now / 1000))
  const payload = '{"event":"ftd"}'
  return authenticate(s, { ip: '1.2.3.4', headers: { 'x-timestamp': ts, 'x-signature': signPostback(key, ts, payload) }, payload }, any, now)
}

describe('token rotation', () => {
  it.each<[string, string, number, string | undefined]>([
    ['the new token, during the grace period', 'new-token-0123456789', NOW, undefined],
    ['the new token, after it', 'new-token-0123456789', UNTIL + 1, undefined],
    ['the previous token, during the grace period', 'old-token-0123456789', NOW, undefined],
    ['the previous token, a millisecond before the end', 'old-token-0123456789', UNTIL - 1, undefined],
    ['the previous token, at the end', 'old-token-0123456789', UNTIL, 'this token was replaced; the previous token stopped working at 2026-11-28T13:00:00.000Z'],
    ['the previous token, a day later', 'old-token-0123456789', UNTIL + 86_400_000, 'this token was replaced'],
    ['another token', 'some-other-token-000', NOW, 'wrong token'],
  ])('%s', (_name, token, now, reason) => {
    const r = withToken(token, now)
    if (reason === undefined) expect(r).toBeUndefined()
    else expect(r).toMatchObject({ code: 401, error: 'unauthorized', reason: expect.stringContaining(reason) })
  })

  it('a previous token without an end date is refused', () => {
    const { previousValidUntil: _drop, ...open } = tokenSource
    expect(withToken('old-token-0123456789', NOW, open)).toMatchObject({ code: 401 })
  })
})

describe('HMAC key rotation', () => {
  it.each<[string, string, number, string | undefined]>([
    ['the new key, during the grace period', 'new-key-0123456789', NOW, undefined],
    ['the new key, after it', 'new-key-0123456789', UNTIL + 1, undefined],
    ['the previous key, during the grace period', 'old-key-0123456789', NOW, undefined],
    ['the previous key, at the end', 'old-key-0123456789', UNTIL, 'signed with a replaced key; the previous key stopped working at 2026-11-28T13:00:00.000Z'],
    ['another key', 'some-other-key-0000', NOW, 'bad signature'],
  ])('%s', (_name, key, now, reason) => {
    const r = withKey(key, now)
    if (reason === undefined) expect(r).toBeUndefined()
    else expect(r).toMatchObject({ code: 401, error: 'unauthorized', reason: expect.stringContaining(reason) })
  })

  it('the allow-list still comes first for a previous credential', () => {
    const walled = new IpAllowList(['10.0.0.0/8'])
    expect(authenticate(tokenSource, { ip: '1.2.3.4', headers: {}, token: 'old-token-0123456789', payload: '' }, walled, NOW)).toMatchObject({ code: 403 })
  })
})
