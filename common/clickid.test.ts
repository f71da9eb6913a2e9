import { describe, expect, it } from 'vitest'
import { CLICK_ID_LENGTH, ClickIdSigner, type ClickClaims } from './clickid.js'

const SECRET = 'click-secret-for-unit-tests-0001'
const OTHER = 'another-click-secret-for-tests-02'
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

const claims: ClickClaims = { ts: 1_735_689_600_123, linkId: 42, affiliateId: 7, offerId: 3 }

describe('ClickIdSigner', () => {
  it('has a 52-character id length (39 bytes in base64url, no padding)', () => {
    expect(CLICK_ID_LENGTH).toBe(52)
    const id = new ClickIdSigner(SECRET).issue(claims)
    expect(id).toHaveLength(CLICK_ID_LENGTH)
    expect(id).toMatch(/^[A-Za-z0-9_-]{52}$/)
  })

  it.each<[string, ClickClaims]>([
    ['typical', claims],
    ['all zero', { ts: 0, linkId: 0, affiliateId: 0, offerId: 0 }],
    ['u32 maxima and the largest u48 timestamp', { ts: 2 ** 48 - 1, linkId: 2 ** 32 - 1, affiliateId: 2 ** 32 - 1, offerId: 2 ** 32 - 1 }],
    ['now-ish', { ts: 1_900_000_000_000, linkId: 1, affiliateId: 123_456, offerId: 0 }],
  ])('roundtrips claims: %s', (_name, c) => {
    const s = new ClickIdSigner(SECRET)
    const id = s.issue(c)
    expect(id).toHaveLength(CLICK_ID_LENGTH)
    expect(s.verify(id)).toEqual({ ok: true, ...c })
  })

  it('verifies ids issued by another signer instance with the same secret (another process)', () => {
    const id = new ClickIdSigner(SECRET).issue(claims)
    expect(new ClickIdSigner(SECRET).verify(id)).toEqual({ ok: true, ...claims })
  })

  it('issues unique ids over 50,000 identical claims, and across two signers', () => {
    const a = new ClickIdSigner(SECRET)
    const b = new ClickIdSigner(SECRET)
    const seen = new Set<string>()
    for (let i = 0; i < 50_000; i++) seen.add(a.issue(claims))
    for (let i = 0; i < 1_000; i++) seen.add(b.issue(claims))
    expect(seen.size).toBe(51_000)
  })

  it('rejects every single-character tamper of a valid id', () => {
    const s = new ClickIdSigner(SECRET)
    const id = s.issue(claims)
    let tried = 0
    for (let i = 0; i < id.length; i++) {
      for (const ch of B64URL) {
        if (ch === id[i]) continue
        const forged = id.slice(0, i) + ch + id.slice(i + 1)
        const r = s.verify(forged)
        tried++
        if (r.ok) throw new Error(`tamper at ${i} with '${ch}' verified: ${forged}`)
        // Byte 0 (the version) is the 6 bits of char 0 and the top 2 bits of char 1: a change
        // there is malformed; any other change breaks the mac.
        const versionChanged = i === 0 || (i === 1 && B64URL.indexOf(ch) >> 4 !== B64URL.indexOf(id[1]!) >> 4)
        expect(r.reason).toBe(versionChanged ? 'malformed' : 'bad_signature')
      }
    }
    expect(tried).toBe(52 * 63)
  })

  it('reports bad_signature (not malformed) for a tamper in the claims or mac', () => {
    const s = new ClickIdSigner(SECRET)
    const id = s.issue(claims)
    // index 10 sits inside the timestamp/link bytes, index 51 inside the mac
    for (const i of [10, 20, 40, 51]) {
      const ch = id[i] === 'A' ? 'B' : 'A'
      expect(s.verify(id.slice(0, i) + ch + id.slice(i + 1))).toEqual({ ok: false, reason: 'bad_signature' })
    }
  })

  it('rejects an id signed with a different secret as bad_signature', () => {
    const forged = new ClickIdSigner(OTHER).issue(claims)
    expect(new ClickIdSigner(SECRET).verify(forged)).toEqual({ ok: false, reason: 'bad_signature' })
  })

  it('rejects an id whose claims were re-encoded without re-signing', () => {
    const s = new ClickIdSigner(SECRET)
    const b = Buffer.from(s.issue(claims), 'base64url')
    b.writeUInt32BE(999, 11) // affiliate id
    expect(s.verify(b.toString('base64url'))).toEqual({ ok: false, reason: 'bad_signature' })
  })

  const valid = new ClickIdSigner(SECRET).issue(claims)
  const wrongVersion = (() => {
    const b = Buffer.from(valid, 'base64url')
    b.writeUInt8(2, 0)
    return b.toString('base64url')
  })()
  const versionZero = (() => {
    const b = Buffer.from(valid, 'base64url')
    b.writeUInt8(0, 0)
    return b.toString('base64url')
  })()

  it.each<[string, string]>([
    ['empty', ''],
    ['one char short', valid.slice(1)],
    ['one char long', valid + 'A'],
    ['twice the length', valid + valid],
    ['standard base64 "+"', '+' + valid.slice(1)],
    ['standard base64 "/"', valid.slice(0, 51) + '/'],
    ['padding "="', valid.slice(0, 51) + '='],
    ['space', valid.slice(0, 25) + ' ' + valid.slice(26)],
    ['non-ASCII', valid.slice(0, 51) + 'é'],
    ['dot', valid.slice(0, 51) + '.'],
    ['version byte 2', wrongVersion],
    ['version byte 0', versionZero],
    ['52 chars of garbage', 'A'.repeat(52)],
  ])('malformed: %s', (_name, input) => {
    expect(new ClickIdSigner(SECRET).verify(input)).toEqual({ ok: false, reason: 'malformed' })
  })

  it('treats a non-string as malformed (defensive check at runtime)', () => {
    const s = new ClickIdSigner(SECRET)
    expect(s.verify(undefined as unknown as string)).toEqual({ ok: false, reason: 'malformed' })
    expect(s.verify(12345 as unknown as string)).toEqual({ ok: false, reason: 'malformed' })
  })
})
