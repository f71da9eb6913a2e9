import { describe, expect, it } from 'vitest'
import { conversionOrderKey, partitionOf, playerOrderKey, playerPartition, playerStateKey } from './keys.js'

describe('ordering keys', () => {
  it.each<[string, { playerId?: string; clickId?: string; id: string }, string]>([
    ['a player', { playerId: 'p-17', clickId: 'c1', id: 'e1' }, 'p:p-17'],
    ['a click without a player', { clickId: 'c1', id: 'e1' }, 'c:c1'],
    ['neither', { id: 'e1' }, 'e:e1'],
    ['an empty player id', { playerId: '', clickId: 'c1', id: 'e1' }, 'c:c1'],
  ])('%s', (_n, e, want) => {
    expect(conversionOrderKey(e)).toBe(want)
  })

  it('a reassignment and a postback of the same player route to the same partition and state', () => {
    for (const n of [1, 7, 16, 1024]) expect(playerPartition('player-42', n)).toBe(partitionOf(conversionOrderKey({ playerId: 'player-42', id: 'x' }), n))
    expect(playerOrderKey('player-42')).toBe('p:player-42')
    expect(playerStateKey({ playerId: 'player-42', id: '' })).toBe(playerStateKey({ playerId: 'player-42', clickId: 'c9', id: 'other' }))
    expect(playerStateKey({ playerId: 'player-42', id: '' })).toMatch(/^p\.[0-9a-f]{40}$/)
    // the hash of the ordering key: the key state already stored under stays the same
    expect(playerStateKey({ playerId: 'x', id: '' })).toBe('p.945b87278a044a9cc707250d63d4787ced17d1bb')
  })
})
