/**
 * Players per address, device and payment method: the state of the multi-accounting rules,
 * which the player stage (partitioned by player) cannot keep per player. One KV key per
 * address or device and day of registrations (`r.<day>.<ip|device>.<hash>`), and per payment
 * method (`p.<hash>`), holding the players in the order the stream brought them.
 *
 * A player's count is its place in the list (1 for the first): adding a player already there
 * changes nothing, so a batch counted again (a retried step, a redo after a crash, whether or
 * not its lists were saved) gives every event the count it got the first time. The lists are
 * counted in memory before the batch goes to the workers, in stream order, and saved with the
 * batch before the players' states (like them, the next batch sees them at once).
 *
 * One owner: the processor of the player partitions (embedded mode has one). Lists stop
 * growing at MAX_MEMBERS: past it every count is "more than the limit" anyway. The bucket
 * keeps a key 35 days after its last change.
 */
import { createHash } from 'node:crypto'
import type { KV } from 'nats'
import type { KeyCounts } from './domain/fraud/conversion.js'

const MAX_MEMBERS = 100
const enc = new TextEncoder()
const dec = new TextDecoder()

/** What the rules count of one event, read from it on the main thread. */
export type KeyedEvent = { id: string; kind: string; player: string; occurredAt: number; ip?: string; device?: string; payment?: string }

const hash = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 32)

export function keysOf(e: KeyedEvent): { ip?: string; device?: string; payment?: string } {
  const day = new Date(e.occurredAt).toISOString().slice(0, 10)
  const out: { ip?: string; device?: string; payment?: string } = {}
  if (e.kind === 'registration') {
    if (e.ip) out.ip = `r.${day}.ip.${hash(e.ip)}`
    if (e.device) out.device = `r.${day}.device.${hash(e.device)}`
  }
  if (e.payment) out.payment = `p.${hash(e.payment)}`
  return out
}

export class KeySets {
  readonly #lists = new Map<string, string[]>()
  readonly #dirty = new Set<string>()

  constructor(private readonly kv: KV) {}

  /** Count a batch's events, in stream order: each event's counts by its id. */
  async count(events: readonly KeyedEvent[]): Promise<Record<string, KeyCounts>> {
    const keyed = events.map((e) => ({ e, keys: keysOf(e) }))
    const wanted = [...new Set(keyed.flatMap((k) => Object.values(k.keys)))].filter((k) => !this.#lists.has(k))
    await Promise.all(
      wanted.map(async (k) => {
        const got = await this.kv.get(k)
        this.#lists.set(k, got && got.operation === 'PUT' ? (JSON.parse(dec.decode(got.value)) as string[]) : [])
      }),
    )
    const out: Record<string, KeyCounts> = {}
    for (const { e, keys } of keyed) {
      const c: KeyCounts = {}
      for (const [what, key] of Object.entries(keys) as ['ip' | 'device' | 'payment', string][]) c[what] = this.#add(key, e.player)
      if (Object.keys(c).length > 0) out[e.id] = c
    }
    return out
  }

  #add(key: string, player: string): number {
    const list = this.#lists.get(key)!
    const at = list.indexOf(player)
    if (at >= 0) return at + 1
    if (list.length >= MAX_MEMBERS) return list.length + 1
    list.push(player)
    this.#dirty.add(key)
    return list.length
  }

  /** Save the lists changed since the last save. */
  async save(): Promise<void> {
    const keys = [...this.#dirty]
    this.#dirty.clear()
    try {
      await Promise.all(keys.map((k) => this.kv.put(k, enc.encode(JSON.stringify(this.#lists.get(k))))))
    } catch (err) {
      for (const k of keys) this.#dirty.add(k)
      throw err
    }
    // keep memory bounded: what is saved can be read again
    if (this.#lists.size > 200_000) for (const k of [...this.#lists.keys()].slice(0, 100_000)) if (!this.#dirty.has(k)) this.#lists.delete(k)
  }
}
