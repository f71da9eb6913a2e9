/**
 * A bounded in-memory cache of KV values (state stores): past `max` entries the tenth least
 * recently set is dropped; those are read back from KV when next needed. `null` remembers "not
 * in KV". What was set last is dropped last: a state computed and not yet saved (the player
 * stage computes the next batch while it writes one) stays until it is.
 */
import type { KvBulk } from '../common/kvbulk.js'

const dec = new TextDecoder()

export class BoundedCache<V> {
  readonly #map = new Map<string, V | null>()
  constructor(private readonly max: number) {}

  /** undefined: not cached (ask KV) */
  get(k: string): V | null | undefined {
    return this.#map.get(k)
  }

  set(k: string, v: V | null): void {
    if (this.#map.size >= this.max) {
      let n = this.max / 10
      for (const key of this.#map.keys()) {
        this.#map.delete(key)
        if (--n <= 0) break
      }
    }
    this.#map.delete(k)
    this.#map.set(k, v)
  }

  /** The values of `keys`: the cached ones as they are, the rest read from KV in one round,
   *  decoded, and cached (null: not in KV). */
  async through(keys: Iterable<string>, kv: Pick<KvBulk, 'getMany'>, decode: (text: string) => V): Promise<Map<string, V | null>> {
    const out = new Map<string, V | null>()
    const missing: string[] = []
    for (const k of new Set(keys)) {
      const c = this.#map.get(k)
      if (c === undefined) missing.push(k)
      else out.set(k, c)
    }
    const values = await kv.getMany(missing)
    missing.forEach((k, i) => {
      const v = values[i]
      const s = v ? decode(dec.decode(v)) : null
      this.set(k, s)
      out.set(k, s)
    })
    return out
  }
}
