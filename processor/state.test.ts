import type { KV } from 'nats'
import { describe, expect, it } from 'vitest'
import type { PlayerState } from './domain/players.js'
import { PlayerStore } from './state.js'

describe('PlayerStore.save', () => {
  it("writes the players' states before the click keys joined to them", async () => {
    const puts: string[] = []
    const kv = {
      // the puts resolve in reverse order of their calls: only the store's own ordering can keep the players first
      put: (k: string) => new Promise<number>((resolve) => setTimeout(() => (puts.push(k), resolve(0)), k.startsWith('alias') ? 1 : 5)),
    } as unknown as KV
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
