import { describe, expect, it } from 'vitest'
import type { CpaDeal, CpaVersion } from '../../common/entities.js'
import { cpaEntry, dealId, versionAt } from './commission.js'

const v = (version: number, effectiveFrom: number, amount = `${version}00`, currency = 'EUR'): CpaVersion => ({
  version,
  amount,
  currency,
  effectiveFrom,
  createdAt: 0,
})

const deal: CpaDeal = { affiliateId: 7, versions: [v(1, 1_000), v(2, 2_000), v(3, 3_000)] }

describe('versionAt', () => {
  it.each<[string, number, number | undefined]>([
    ['before every version', 999, undefined],
    ['long before', 0, undefined],
    ['exactly at version 1', 1_000, 1],
    ['inside version 1', 1_500, 1],
    ['1 ms before version 2', 1_999, 1],
    ['exactly at version 2', 2_000, 2],
    ['inside version 2', 2_999, 2],
    ['exactly at version 3', 3_000, 3],
    ['long after', 10 ** 13, 3],
  ])('%s (ts %i) → version %s', (_name, ts, want) => {
    expect(versionAt(deal, ts)?.version).toBe(want)
  })

  it('is undefined without a deal or without versions', () => {
    expect(versionAt(undefined, 5_000)).toBeUndefined()
    expect(versionAt({ affiliateId: 7, versions: [] }, 5_000)).toBeUndefined()
  })

  it('does not depend on the order versions are stored in', () => {
    const shuffled: CpaDeal = { affiliateId: 7, versions: [v(3, 3_000), v(1, 1_000), v(2, 2_000)] }
    for (const [ts, want] of [
      [1_500, 1],
      [2_500, 2],
      [3_500, 3],
    ] as const)
      expect(versionAt(shuffled, ts)?.version).toBe(want)
  })

  it('returns the version object itself (amount and currency included)', () => {
    expect(versionAt(deal, 2_500)).toEqual(v(2, 2_000))
  })
})

describe('cpaEntry', () => {
  it('builds a deterministic CPA ledger line at ledger precision', () => {
    const e = cpaEntry({ affiliateId: 7, playerRef: 'ref123', ts: 5_000, eventId: '1:ev-9', seq: 42 }, v(2, 2_000, '25.5', 'USD'))
    expect(e).toEqual({
      entry_id: 'cpa:ref123:cpa.7',
      ts: 5_000,
      affiliate_id: 7,
      player_ref: 'ref123',
      kind: 'cpa',
      deal_id: 'cpa.7',
      deal_version: 2,
      amount: '25.500000000000',
      currency: 'USD',
      cause_event_id: '1:ev-9',
      reason: 'ftd',
      stream_seq: 42,
    })
  })

  it('gives the same id for the same player and deal whatever the cause (paid once)', () => {
    const a = cpaEntry({ affiliateId: 7, playerRef: 'r', ts: 1, eventId: 'a', seq: 1 }, v(1, 0))
    const b = cpaEntry({ affiliateId: 7, playerRef: 'r', ts: 2, eventId: 'b', seq: 2 }, v(2, 0))
    const c = cpaEntry({ affiliateId: 8, playerRef: 'r', ts: 2, eventId: 'b', seq: 2 }, v(2, 0))
    expect(a.entry_id).toBe(b.entry_id)
    expect(c.entry_id).not.toBe(a.entry_id)
  })

  it('dealId', () => {
    expect(dealId(7)).toBe('cpa.7')
  })
})
