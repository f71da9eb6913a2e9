/**
 * The affiliate stage's books in a KV bucket, cached in memory: per affiliate its chain head,
 * cap usage, paid CPAs and RevShare balances (`a.<affiliate>`), and per affiliate and player
 * what may still be taken back or offset (`p.<affiliate>.<player key hash>`), so a batch reads
 * and writes only what its facts touch. One affiliate stage owns each affiliate partition.
 */
import { hash } from 'node:crypto'
import type { KvBulk } from '../common/kvbulk.js'
import { BoundedCache } from './cache.js'
import { PROGRAM_KEY } from '../common/close.js'
import { emptyBook, emptyProgram, type AffiliateBook, type Books, type ProgramBook } from './domain/commission/affiliate.js'

const enc = new TextEncoder()
const MAX_CACHED = 500_000

type Core = Omit<AffiliateBook, 'players'>
type PlayerBook = AffiliateBook['players'][string]

const coreKey = (aff: string) => `a.${aff}`

const playerKey = (aff: string, player: string) => `p.${aff}.${hash('sha256', player).slice(0, 32)}`

export class BookStore {
  /** the stored text per key, so only what changed is written */
  readonly #cache = new BoundedCache<string>(MAX_CACHED)
  constructor(private readonly kv: Pick<KvBulk, 'getMany' | 'putMany'>) {}

  /** The books of these affiliates, each with the given players' parts. */
  async load(affiliates: Iterable<number>, players: Iterable<[number, string]>): Promise<Books> {
    const books: Books = {}
    const affs = [...new Set([...affiliates].map(String))]
    const pairs = [...new Map([...players].map(([a, p]) => [`${a}\u0000${p}`, [String(a), p, playerKey(String(a), p)] as const])).values()]
    const got = await this.#cache.through([...affs.map(coreKey), ...pairs.map(([, , k]) => k)], this.kv, (text) => text)
    for (const a of affs) {
      const s = got.get(coreKey(a))
      books[a] = s ? { ...(JSON.parse(s) as Core), players: {} } : emptyBook()
    }
    for (const [a, p, k] of pairs) {
      const s = got.get(k)
      if (s && books[a]) books[a]!.players[p] = JSON.parse(s) as PlayerBook
    }
    return books
  }

  /** The program's closes so far. */
  async loadProgram(): Promise<ProgramBook> {
    const got = await this.#cache.through([PROGRAM_KEY], this.kv, (text) => text)
    const s = got.get(PROGRAM_KEY)
    return s ? (JSON.parse(s) as ProgramBook) : emptyProgram()
  }

  /** Write what changed: each affiliate's core and each player part, and the program's closes. */
  async save(books: Books, program?: ProgramBook): Promise<void> {
    const puts: [string, string][] = []
    for (const [a, b] of Object.entries(books)) {
      const { players, ...core } = b
      puts.push([coreKey(a), JSON.stringify(core)])
      for (const [p, pb] of Object.entries(players)) puts.push([playerKey(a, p), JSON.stringify(pb)])
    }
    if (program) puts.push([PROGRAM_KEY, JSON.stringify(program)])
    const changed = puts.filter(([k, v]) => this.#cache.get(k) !== v)
    await this.kv.putMany(changed.map(([k, v]) => [k, enc.encode(v)] as const))
    for (const [k, v] of changed) this.#cache.set(k, v)
  }
}
