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

  async save(changed: Record<string, PlayerState>): Promise<void> {
    const entries = Object.entries(changed)
    for (let i = 0; i < entries.length; i += 256) {
      await Promise.all(entries.slice(i, i + 256).map(([k, s]) => this.kv.put(k, enc.encode(JSON.stringify(s)))))
    }
    for (const [k, s] of entries) this.#cache.set(k, s)
  }
}
