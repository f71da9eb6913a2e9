/**
 * Per-player processing state in a KV bucket, cached in memory. One consumer owns each
 * partition, so plain puts suffice; the state carries the stream position it applied,
 * which is what makes a redelivered event harmless.
 */
import type { KvBulk } from '../common/kvbulk.js'
import { BoundedCache } from './cache.js'
import type { PlayerState } from './domain/players.js'

const enc = new TextEncoder()
const MAX_CACHED = 1_000_000

export class PlayerStore {
  readonly #cache = new BoundedCache<PlayerState>(MAX_CACHED)
  constructor(private readonly kv: Pick<KvBulk, 'getMany' | 'putMany'>) {}

  /** States for the given keys (absent = never seen). */
  async load(keys: Iterable<string>): Promise<Record<string, PlayerState>> {
    const out: Record<string, PlayerState> = {}
    for (const [k, s] of await this.#cache.through(keys, this.kv, (text) => JSON.parse(text) as PlayerState)) if (s) out[k] = s
    return out
  }

  /** States computed and not yet saved: what the next batch's load sees. */
  remember(changed: Record<string, PlayerState>): void {
    for (const [k, s] of Object.entries(changed)) this.#cache.set(k, s)
  }

  /** Players' states first, then the click keys joined to them (`joinedTo`): a save cut short
   *  in between leaves a player that took a click's state over and a click key not yet pointing
   *  at it, which the redone batch finishes (pipeline.ts joinOf); the other way round, the click
   *  key would point at a player that never got its state. */
  async save(changed: Record<string, PlayerState>): Promise<void> {
    const entries = Object.entries(changed)
    const aliases = entries.filter(([, s]) => s.joinedTo !== undefined)
    for (const group of [entries.filter(([, s]) => s.joinedTo === undefined), aliases])
      await this.kv.putMany(group.map(([k, s]) => [k, enc.encode(JSON.stringify(s))] as const))
    for (const [k, s] of entries) this.#cache.set(k, s)
  }
}
