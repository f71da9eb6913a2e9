import { describe, expect, it } from 'vitest'
import type { Affiliate } from '../common/entities.js'
import { referenceData } from './affiliate-compute.js'

const base = { id: 1, name: 'A', createdAt: 1000, status: 'active' } as Affiliate

describe('referenceData: parents and suspensions as of when', () => {
  const cases: [string, Partial<Affiliate>, { parents?: unknown; statuses?: unknown }][] = [
    ['no parent, never suspended: nothing to look up', {}, {}],
    ['a parent and no history (written before histories): the parent since creation', { parentId: 9 }, { parents: [{ from: 1000, parentId: 9 }] }],
    ['a parent with an empty history: the same, never "no parent"', { parentId: 9, parentHistory: [] }, { parents: [{ from: 1000, parentId: 9 }] }],
    [
      'suspended with an empty history: suspended since creation',
      { status: 'suspended', statusHistory: [] },
      { statuses: [{ from: 1000, status: 'suspended' }] },
    ],
    [
      'the histories themselves when kept',
      {
        parentId: 4,
        parentHistory: [
          { from: 1000, parentId: null },
          { from: 5000, parentId: 4 },
        ],
        status: 'active',
        statusHistory: [
          { from: 1000, status: 'active' },
          { from: 2000, status: 'suspended' },
          { from: 3000, status: 'active' },
        ],
      },
      {
        parents: [
          { from: 1000, parentId: null },
          { from: 5000, parentId: 4 },
        ],
        statuses: [
          { from: 1000, status: 'active' },
          { from: 2000, status: 'suspended' },
          { from: 3000, status: 'active' },
        ],
      },
    ],
  ]
  for (const [name, a, want] of cases)
    it(name, () => {
      const r = referenceData([], [], [{ ...base, ...a }])
      expect(r.parents['1']).toEqual(want.parents)
      expect(r.statuses['1']).toEqual(want.statuses)
    })
})
