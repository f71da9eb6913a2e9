/**
 * Per-player processing state in a KV bucket, cached in memory. One consumer owns each
 * partition, so plain puts suffice; the state carries the stream position it applied,
 * which is what makes a redelivered event harmless.
 */
import type { KV } from 'nats'
import { BoundedCache } from './cache.js'
import type { PlayerState } from './domain/players.js'

const enc = new TextEncoder()
const dec = new TextDecoder()
const MAX_CACHED = 1_000_000

export class PlayerStore {
  readonly #cache = new BoundedCache<PlayerState>(MAX_CACHED)
  constructor(private readonly kv: KV) {}

  /** States for the given keys (absent = never seen). */
  async load(keys: Iterable<string>): Promise<Record<string, PlayerState>> {
    const out: Record<string, PlayerState> = {}
    const missing: string[] = []
    for (const k of new Set(keys)) {
      const c = this.#cache.get(k)
      if (c === undefined) missing.push(k)
      else if (c) out[k] = c
    }
    for (let i = 0; i < missing.length; i += 256) {
      await Promise.all(
        missing.slice(i, i + 256).map(async (k) => {
          const e = await this.kv.get(k)
          const s = e && e.operation === 'PUT' ? (JSON.parse(dec.decode(e.value)) as PlayerState) : null
          this.#cache.set(k, s)
          if (s) out[k] = s
        }),
      )
    }
    return out
  }

  /** Players' states first, then the click keys joined to them (`joinedTo`): a save cut short
   *  in between leaves a player that took a click's state over and a click key not yet pointing
   *  at it, which the redone batch finishes (pipeline.ts joinOf); the other way round, the click
   *  key would point at a player that never got its state. */
  async save(changed: Record<string, PlayerState>): Promise<void> {
    const entries = Object.entries(changed)
    const aliases = entries.filter(([, s]) => s.joinedTo !== undefined)
    for (const group of [entries.filter(([, s]) => s.joinedTo === undefined), aliases]) {
      for (let i = 0; i < group.length; i += 256) {
        await Promise.all(group.slice(i, i + 256).map(([k, s]) => this.kv.put(k, enc.encode(JSON.stringify(s)))))
      }
    }
    for (const [k, s] of entries) this.#cache.set(k, s)
  }
}
