/**
 * The period close at scale: a program of 10,000 affiliates and 1,000,000 players in a month,
 * with a realistic deal mix, closed by the affiliate stage as it runs (books in KV, ledger in
 * chDB, the close computed on the worker threads). The ledger and the books are written
 * directly, consistent with each other (the close reads nothing else), so the setup takes
 * seconds rather than the hour of a million players' events through the pipeline:
 *
 *   - half the affiliates on a CPA deal ($100, 7-day hold), a fifth of those with retroactive
 *     tiers (their books list every CPA of the month, re-priced at the close); three in ten on
 *     30% RevShare (three estimated lines per player); two in ten on a hybrid (CPA and 25%);
 *   - one in twenty CPAs reversed in its hold; holds of the month's last week still running;
 *   - one affiliate in ten recruited by one of the first 500, who earn 5% of every line.
 *
 * Measured: from the close reaching the affiliate stage to its statements written and books
 * saved. Run alone: node --import tsx bench/close.ts [affiliates] [players]; `npm run bench`
 * runs it last and carries `close_s` in its JSON line.
 */
import { createHash } from 'node:crypto'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { connect } from 'nats'
import { createChdb, insertFormatted } from '../clickhouse/client.js'
import { migrate } from '../clickhouse/migrate.js'
import { D } from '../common/money.js'
import { KvBulk } from '../common/kvbulk.js'
import { createLogger } from '../common/log.js'
import { ensureTopology, openKv } from '../common/nats.js'
import { accrualSubject, BUCKETS } from '../common/subjects.js'
import { DealTermsSchema, type Deal, type DealTerms } from '../common/deals.js'
import { LINES_INSERT, lineRow, type ReferenceData } from '../processor/affiliate-compute.js'
import { AffiliateStage } from '../processor/affiliate-stage.js'
import { BookStore } from '../processor/books.js'
import type { CloseFact } from '../processor/domain/commission/accrual.js'
import type { AffiliateBook, Books, NumberedLine } from '../processor/domain/commission/affiliate.js'
import { createPool } from '../processor/tier.js'
import { tempDir, testConfig } from '../test/helpers/config.js'
import { startTestNats } from '../test/helpers/nats.js'

const DAY = 86_400_000
const MONTH = '2026-10'
const START = Date.UTC(2026, 9, 1)
const CLOSE_AT = Date.UTC(2026, 10, 5)

export type CloseBench = {
  close_s: number
  affiliates: number
  players: number
  ledger_lines: number
  statements: number
  setup_s: number
  steps_ms: Record<string, number>
}

/** A small deterministic generator (mulberry32): the same program every run. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const rs = (rate: string) => ({ bands: [{ from: '0', rate }], carryover: true })
const terms: Record<'cpa' | 'retro' | 'rs' | 'hybrid', DealTerms> = {
  cpa: DealTermsSchema.parse({ currency: 'USD', cpa: { amount: '100', holdDays: 7 }, subAffiliate: { tiers: ['0.05'] } }),
  retro: DealTermsSchema.parse({
    currency: 'USD',
    cpa: {
      amount: '100',
      holdDays: 7,
      retroTiers: [
        { at: 20, amount: '110' },
        { at: 80, amount: '120' },
      ],
    },
    subAffiliate: { tiers: ['0.05'] },
  }),
  rs: DealTermsSchema.parse({ currency: 'USD', revshare: rs('0.30'), subAffiliate: { tiers: ['0.05'] } }),
  hybrid: DealTermsSchema.parse({ currency: 'USD', cpa: { amount: '50', holdDays: 7 }, revshare: rs('0.25'), subAffiliate: { tiers: ['0.05'] } }),
}

export async function closeBench(o: { affiliates?: number; players?: number; say?: (s: string) => void } = {}): Promise<CloseBench> {
  const A = o.affiliates ?? 10_000
  const P = o.players ?? 1_000_000
  const say = o.say ?? ((s: string) => process.stderr.write(`${s}\n`))
  const t0 = performance.now()
  const nats = await startTestNats()
  const nc = await connect({ servers: nats.url })
  await ensureTopology(nc, testConfig())
  const dir = tempDir('bench-close')
  const ch = createChdb(join(dir, 'ch'))
  await migrate(ch)
  const rand = rng(42)

  // the program: each affiliate's deal kind (a group deal per kind), a recruiter for one in ten
  const kindOf = (a: number) => {
    const x = (a * 7919) % 100
    return x < 40 ? 'cpa' : x < 50 ? 'retro' : x < 80 ? 'rs' : 'hybrid'
  }
  const deals: Deal[] = (['cpa', 'retro', 'rs', 'hybrid'] as const).map((k) => ({
    id: k,
    name: k,
    group: k,
    versions: [{ version: 1, effectiveFrom: 0, createdAt: 0, terms: terms[k] }],
  }))
  const parents: ReferenceData['parents'] = {}
  const groups: NonNullable<ReferenceData['groups']> = {}
  for (let a = 1; a <= A; a++) {
    groups[String(a)] = [{ from: 0, group: kindOf(a) }]
    if (a > 500 && a % 10 === 0) parents[String(a)] = [{ from: 0, parentId: 1 + (a % 500) }]
  }
  const ref: ReferenceData = { deals, fx: [], parents, statuses: {}, groups }

  // the ledger and the books, affiliate by affiliate
  const books: Books = {}
  const subs = new Map<number, { amount: string; from: number; line: string; at: number }[]>()
  let rows = ''
  let rowCount = 0
  let total = 0
  const flush = async (force = false) => {
    if (rowCount === 0 || (!force && rowCount < 100_000)) return
    await insertFormatted(ch, { ...LINES_INSERT, body: rows, token: `bench-close:${total}` })
    total += rowCount
    rows = ''
    rowCount = 0
  }
  const book = (a: number): AffiliateBook => (books[String(a)] ??= { latest: 0, head: '0'.repeat(64), lines: 0, cpa: {}, rs: {}, players: {} })
  const write = (
    a: number,
    l: Omit<
      NumberedLine,
      | 'no'
      | 'prevHash'
      | 'hash'
      | 'affiliateId'
      | 'seq'
      | 'idx'
      | 'n'
      | 'estimated'
      | 'originalAmount'
      | 'originalCurrency'
      | 'currency'
      | 'fxRate'
      | 'fxDate'
      | 'dealVersion'
    > & { estimated?: boolean },
  ) => {
    const b = book(a)
    b.lines++
    const hash = createHash('sha256').update(b.head).update(l.id).digest('hex')
    const line: NumberedLine = {
      ...l,
      affiliateId: a,
      seq: b.lines,
      idx: 0,
      n: 0,
      estimated: l.estimated ?? false,
      dealVersion: 1,
      originalAmount: l.amount,
      originalCurrency: 'USD',
      currency: 'USD',
      fxRate: '1',
      fxDate: '2026-10-01',
      no: b.lines,
      prevHash: b.head,
      hash,
    }
    b.head = hash
    b.at = [b.lines, 0, 0]
    b.latest = Math.max(b.latest, l.occurredAt)
    rows += lineRow(line, 1)
    rowCount++
    return line
  }
  const perAffiliate = P / A
  let player = 0
  for (let a = 1; a <= A; a++) {
    const kind = kindOf(a)
    const n = Math.max(1, Math.round(perAffiliate * (0.5 + rand())))
    const b = book(a)
    const slot: AffiliateBook['cpa'][string] | undefined =
      kind === 'rs' ? undefined : (b.cpa[`${kind}|${MONTH}`] = { live: 0, days: {}, reprices: 0, version: 1, ...(kind === 'retro' ? { paid: [] } : {}) })
    let ngr = 0
    for (let i = 0; i < n && player < P; i++, player++) {
      const key = `pk${player}`
      const ref2 = `pr${player}`
      const at = START + Math.floor(rand() * 31 * DAY)
      const base = { occurredAt: at, period: MONTH, dealId: kind, playerKey: key, playerRef: ref2, causeEventId: `e${player}` }
      const own: NumberedLine[] = []
      if (slot) {
        const price = kind === 'hybrid' ? '50' : '100'
        const payableAt = at + 7 * DAY
        own.push(write(a, { ...base, id: `cpa:${key}:${kind}`, kind: 'cpa', status: 'pending', payableAt, amount: price, reason: 'CPA' }))
        if (rand() < 0.05)
          own.push(
            write(a, {
              ...base,
              id: `rev:cpa:${key}:${kind}`,
              kind: 'reversal',
              status: 'reversed',
              amount: `-${price}`,
              refLineId: `cpa:${key}:${kind}`,
              reason: 'refund',
            }),
          )
        else {
          slot.live++
          slot.paid?.push({ player: key, ref: ref2, line: `cpa:${key}:${kind}`, price, day: new Date(at).toISOString().slice(0, 10), payableAt })
        }
      }
      if (kind === 'rs' || kind === 'hybrid') {
        const rate = kind === 'rs' ? 0.3 : 0.25
        for (let k = 0; k < (kind === 'rs' ? 3 : 2); k++) {
          const x = Math.round((rand() * 400 - 100) * 10_000) // NGR in cents of cents: some players lose the operator money
          ngr += x
          const amount = new D(x).times(rate).div(10_000).toFixed()
          own.push(write(a, { ...base, id: `rs:e${player}-${k}:${MONTH}`, kind: 'revshare', status: 'payable', amount, estimated: true, reason: 'RevShare' }))
        }
      }
      const parent = parents[String(a)]?.[0]?.parentId
      if (parent) {
        const list = subs.get(parent) ?? []
        subs.set(parent, list)
        for (const l of own) list.push({ amount: new D(l.amount).times('0.05').toFixed(), from: a, line: l.id, at: l.occurredAt })
      }
    }
    if (kind === 'rs' || kind === 'hybrid') b.rs[kind] = { [MONTH]: { start: START, base: new D(ngr).div(10_000).toFixed(), paid: '0', version: 1 } }
    await flush()
    if (a % 2000 === 0) say(`close bench: ${a} of ${A} affiliates written`)
  }
  // the recruiters' shares, at the end of their chains
  for (const [parent, list] of subs)
    for (const s of list)
      write(parent, {
        occurredAt: s.at,
        period: MONTH,
        dealId: kindOf(parent),
        playerKey: '',
        playerRef: '',
        causeEventId: s.line,
        id: `sub:${s.line}:${s.from}:1`,
        kind: 'sub',
        status: 'payable',
        amount: s.amount,
        refLineId: s.line,
        reason: 'sub',
      })
  await flush(true)
  const store = new BookStore(new KvBulk(nc, BUCKETS.books))
  const entries = Object.entries(books)
  for (let i = 0; i < entries.length; i += 1000) await store.save(Object.fromEntries(entries.slice(i, i + 1000)))
  const setupS = (performance.now() - t0) / 1000
  say(`close bench: ${A} affiliates, ${player} players, ${total} ledger lines written in ${setupS.toFixed(1)} s; closing ${MONTH}`)

  // the close, as the player stage forwards it, applied by a running affiliate stage
  const close: CloseFact = { type: 'close', seq: 1, idx: 0, n: 0, closeId: `close:${MONTH}`, period: MONTH, asOf: CLOSE_AT, rounding: 'half_even' }
  await nc.jetstream().publish(accrualSubject(0), new TextEncoder().encode(JSON.stringify(close) + '\n'), { msgID: 'bench-close' })
  const cfg = testConfig()
  const pool = createPool({ clickSecret: cfg.secrets.clickSecret, pseudonymSecret: cfg.secrets.pseudonymSecret, windowMs: 30 * DAY, ipStorage: 'full' }, 2)
  const stage = new AffiliateStage({
    nc,
    ch,
    books: new BookStore(new KvBulk(nc, BUCKETS.books)),
    reference: () => ref,
    affiliates: () => Array.from({ length: A }, (_, i) => i + 1),
    pool,
    progressKv: await openKv(nc, BUCKETS.progress),
    log: createLogger('silent'),
    consumer: 'affiliate-bench',
    batchMessages: 256,
    batchWaitMs: 20,
  })
  const c0 = performance.now()
  await stage.start()
  while (stage.stats.closes < 1) {
    if (stage.stats.failure) throw new Error(`the close failed: ${stage.stats.failure.message}`)
    await new Promise((r) => setTimeout(r, 20))
  }
  const closeS = (performance.now() - c0) / 1000
  const out: CloseBench = {
    close_s: Number(closeS.toFixed(2)),
    affiliates: A,
    players: player,
    ledger_lines: total,
    statements: stage.stats.statements,
    setup_s: Number(setupS.toFixed(1)),
    steps_ms: stage.stats.lastCloseSteps,
  }
  say(`close bench: ${out.statements} statements in ${out.close_s} s (${JSON.stringify(out.steps_ms)})`)
  await stage.stop()
  await pool.destroy()
  await ch.close()
  await nc.close()
  await nats.stop()
  rmSync(dir, { recursive: true, force: true })
  return out
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await closeBench({ affiliates: Number(process.argv[2] ?? 10_000), players: Number(process.argv[3] ?? 1_000_000) })
  process.stdout.write(`${JSON.stringify(r)}\n`)
  process.exit(0)
}
