/**
 * The affiliate stage's books in a KV bucket, cached in memory: per affiliate its chain head,
 * cap usage, paid CPAs and RevShare balances (`a.<affiliate>`), and per affiliate and player
 * what may still be taken back or offset (`p.<affiliate>.<player key hash>`), so a batch reads
 * and writes only what its facts touch. One affiliate stage owns each affiliate partition.
 */
import { createHash } from 'node:crypto'
import type { KV } from 'nats'
import { BoundedCache } from './cache.js'
import { emptyBook, type AffiliateBook, type Books } from './domain/commission/affiliate.js'

const enc = new TextEncoder()
const dec = new TextDecoder()
const MAX_CACHED = 500_000

type Core = Omit<AffiliateBook, 'players'>
type PlayerBook = AffiliateBook['players'][string]

const coreKey = (aff: string) => `a.${aff}`
const playerKey = (aff: string, player: string) => `p.${aff}.${createHash('sha256').update(player).digest('hex').slice(0, 32)}`

export class BookStore {
  /** the stored text per key, so only what changed is written */
  readonly #cache = new BoundedCache<string>(MAX_CACHED)
  constructor(private readonly kv: KV) {}

  async #get(k: string): Promise<string | null> {
    const c = this.#cache.get(k)
    if (c !== undefined) return c
    const e = await this.kv.get(k)
    const s = e && e.operation === 'PUT' ? dec.decode(e.value) : null
    this.#cache.set(k, s)
    return s
  }

  /** The books of these affiliates, each with the given players' parts. */
  async load(affiliates: Iterable<number>, players: Iterable<[number, string]>): Promise<Books> {
    const books: Books = {}
    const affs = [...new Set([...affiliates].map(String))]
    await Promise.all(
      affs.map(async (a) => {
        const s = await this.#get(coreKey(a))
        books[a] = s ? { ...(JSON.parse(s) as Core), players: {} } : emptyBook()
      }),
    )
    const pairs = [...new Map([...players].map(([a, p]) => [`${a}\u0000${p}`, [String(a), p] as const])).values()]
    await Promise.all(
      pairs.map(async ([a, p]) => {
        const s = await this.#get(playerKey(a, p))
        if (s && books[a]) books[a]!.players[p] = JSON.parse(s) as PlayerBook
      }),
    )
    return books
  }

  /** Write what changed: each affiliate's core and each player part. */
  async save(books: Books): Promise<void> {
    const puts: [string, string][] = []
    for (const [a, b] of Object.entries(books)) {
      const { players, ...core } = b
      puts.push([coreKey(a), JSON.stringify(core)])
      for (const [p, pb] of Object.entries(players)) puts.push([playerKey(a, p), JSON.stringify(pb)])
    }
    const changed = puts.filter(([k, v]) => this.#cache.get(k) !== v)
    for (let i = 0; i < changed.length; i += 256) await Promise.all(changed.slice(i, i + 256).map(([k, v]) => this.kv.put(k, enc.encode(v))))
    for (const [k, v] of changed) this.#cache.set(k, v)
  }
}
