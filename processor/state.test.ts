import { describe, expect, it } from 'vitest'
import type { PlayerState } from './domain/players.js'
import { PlayerStore } from './state.js'

describe('PlayerStore.save', () => {
  it("writes the players' states before the click keys joined to them", async () => {
    const puts: string[] = []
    const kv = {
      getMany: async () => [],
      // each key is written after a delay, the aliases' shorter: only the store's own ordering can keep the players first
      putMany: (entries: readonly (readonly [string, Uint8Array])[]) =>
        Promise.all(entries.map(([k]) => new Promise<void>((resolve) => setTimeout(() => (puts.push(k), resolve()), k.startsWith('alias') ? 1 : 5)))).then(
          () => {},
        ),
    }
    const state = (extra: Partial<PlayerState> = {}): PlayerState => ({ pos: [1, 0], affiliateId: 7, linkId: 1, offerId: 1, ...extra })
    await new PlayerStore(kv).save({
      'alias.1': state({ joinedTo: 'player.1' }),
      'player.1': state({ moneyKey: 'alias.1' }),
      'alias.2': state({ joinedTo: 'player.2' }),
      'player.2': state(),
    })
    expect(puts.slice(0, 2).sort()).toEqual(['player.1', 'player.2'])
    expect(puts.slice(2).sort()).toEqual(['alias.1', 'alias.2'])
  })
})
