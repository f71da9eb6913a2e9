/**
 * The audit chain as pure functions: a chain built record by record checks out; removing,
 * altering, reordering or forging a record is found, at the record where it happened.
 */
import { describe, expect, it } from 'vitest'
import { auditSubject, canonical, ChainChecker, checkChain, GENESIS, recordHash, redact, type AuditRecord } from './audit.js'

function chain(n: number): { seq: number; record: AuditRecord }[] {
  const out: { seq: number; record: AuditRecord }[] = []
  let prev = GENESIS
  for (let i = 1; i <= n; i++) {
    const body = {
      at: 1_700_000_000_000 + i,
      by: 'operator',
      entity: 'affiliate' as const,
      key: String(i),
      action: 'update' as const,
      before: { status: 'active' },
      after: { status: 'suspended', n: i },
      prev,
    }
    const record = { ...body, hash: recordHash(body) }
    out.push({ seq: i, record })
    prev = record.hash
  }
  return out
}

describe('checkChain', () => {
  it('accepts an intact chain and names its head', () => {
    const c = chain(5)
    expect(checkChain(c)).toEqual({ ok: true, records: 5, head: c[4]!.record.hash })
    expect(checkChain([])).toEqual({ ok: true, records: 0, head: GENESIS })
  })

  it.each<[string, (c: { seq: number; record: AuditRecord }[]) => unknown[], number, RegExp]>([
    ['a record removed from the middle ("shaving")', (c) => c.filter((r) => r.seq !== 3), 3, /missing/],
    ['the first record removed', (c) => c.slice(1), 1, /missing/],
    [
      'an amount changed after the fact',
      (c) => c.map((r) => (r.seq === 2 ? { ...r, record: { ...r.record, after: { status: 'active', n: 2 } } } : r)),
      2,
      /altered/,
    ],
    ['who made the change rewritten', (c) => c.map((r) => (r.seq === 4 ? { ...r, record: { ...r.record, by: 'system' } } : r)), 4, /altered/],
    [
      'a record re-hashed after editing (the next one no longer follows it)',
      (c) =>
        c.map((r) => {
          if (r.seq !== 2) return r
          const edited = { ...r.record, note: 'inserted later' }
          return { ...r, record: { ...edited, hash: recordHash(edited) } }
        }),
      3,
      /does not follow/,
    ],
    ['two records swapped', (c) => [c[0], { ...c[2]!, seq: 2 }, { ...c[1]!, seq: 3 }, c[3], c[4]], 2, /does not follow/],
    ['a record that is not an audit record', (c) => c.map((r) => (r.seq === 5 ? { seq: 5, record: { hello: 'world' } } : r)), 5, /not an audit record/],
  ])('finds %s', (_what, tamper, seq, problem) => {
    const r = checkChain(tamper(chain(5)) as { seq: number; record: unknown }[])
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.seq).toBe(seq)
    expect(r.problem).toMatch(problem)
  })
})

describe('ChainChecker', () => {
  it('finds records removed from the end by the stream’s last sequence', () => {
    const c = new ChainChecker()
    for (const r of chain(5).slice(0, 3)) c.add(r.seq, r.record)
    expect(c.result(3)).toMatchObject({ ok: true, records: 3 })
    expect(c.result(5)).toEqual({ ok: false, records: 3, seq: 4, problem: 'record 4 is missing' })
  })

  it('keeps the first break and refuses more', () => {
    const c = new ChainChecker()
    const rs = chain(4)
    expect(c.add(1, rs[0]!.record)).toBe(true)
    expect(c.add(3, rs[2]!.record)).toBe(false)
    expect(c.add(4, rs[3]!.record)).toBe(false)
    expect(c.result(4)).toMatchObject({ ok: false, seq: 2 })
  })
})

describe('auditSubject', () => {
  it('one subject per entity key, safe whatever the key holds', () => {
    expect(auditSubject('player', 'a.b c*>')).toMatch(/^audit\.player\.[0-9a-f]{24}$/)
    expect(auditSubject('brand', '1')).not.toBe(auditSubject('brand', '2'))
    expect(auditSubject('brand', '1')).not.toBe(auditSubject('offer', '1'))
  })
})

describe('canonical', () => {
  it.each<[unknown, unknown]>([
    [
      { b: 1, a: 2 },
      { a: 2, b: 1 },
    ],
    [{ x: { d: [1, { z: 1, y: 2 }], c: null } }, { x: { c: null, d: [1, { y: 2, z: 1 }] } }],
    [{ a: 1, u: undefined }, { a: 1 }],
  ])('the same content gives the same text whatever the key order: %o', (a, b) => {
    expect(canonical(a)).toBe(canonical(b))
  })

  it('different content gives different text', () => {
    expect(canonical({ a: '1' })).not.toBe(canonical({ a: 1 }))
    expect(canonical([1, 2])).not.toBe(canonical([2, 1]))
  })
})

describe('redact', () => {
  it('replaces secrets at any depth and keeps everything else', () => {
    expect(redact({ id: 1, tokenHash: 'abc', nested: [{ hmacSecret: 'k', name: 'n' }], empty: { tokenHash: '' } })).toEqual({
      id: 1,
      tokenHash: '[redacted]',
      nested: [{ hmacSecret: '[redacted]', name: 'n' }],
      empty: { tokenHash: '' },
    })
  })
})
