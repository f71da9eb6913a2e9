/**
 * The affiliate stage's runner: the only writer of ledger lines. Per batch of accrual facts
 * (ACCRUALS stream, in the order the player stage published them, which is cause order):
 *
 *   1. load the books of the affiliates the facts touch, their recruiters, and the players'
 *      parts (KV)
 *   2. apply the facts on a worker thread (processor/affiliate-compute.ts, pure)
 *   3. insert the lines (ClickHouse `ledger_lines`)
 *   4. save the books, then acknowledge the batch
 *
 * Exactly once, as in the player stage: the batch's range is recorded as pending first, so a
 * crash is redone over exactly that range with the same insert token (the commission rollups
 * drop the repeat); a fact at or below an affiliate's saved position is skipped; a redo looks
 * at what reached ClickHouse before it writes (chDB may record a token and lose its part). A
 * line's place is (affiliate, its number in the chain), so even a row written twice is one.
 *
 * With one player stage (embedded mode) its publishing order is cause order. Several player
 * stages (distributed mode) will release facts up to the lowest position all have finished.
 */
import { nanos, type KV, type NatsConnection } from 'nats'
import { consumerFeed, type BatchFeed } from './feed.js'
import type { ClickHouseClient } from '../clickhouse/client.js'
import { insertFormatted, queryRows } from '../clickhouse/client.js'
import type { LiveDelta } from './delta.js'
import type { Logger } from '../common/log.js'
import { ACCRUALS_STREAM, LIVE_DELTA_SUBJECT } from '../common/subjects.js'
import type { BookStore } from './books.js'
import type { AccrualFact, EngineFact } from './domain/commission/accrual.js'
import { MAX_SUB_DEPTH } from './domain/commission/affiliate.js'
import {
  LINES_INSERT,
  referenceOf,
  STATEMENT_COLUMNS,
  STATEMENT_LINE_COLUMNS,
  STATEMENT_TOTAL_COLUMNS,
  type AffiliateTask,
  type AffiliateTaskOutput,
  type CloseTask,
  type CloseTaskOutput,
  type ReferenceData,
} from './affiliate-compute.js'
import { collectInSql } from '../clickhouse/statements.js'
import { periodKindOf } from '../common/periods.js'
import { emptyBook, emptyProgram, type Books, type ProgramBook } from './domain/commission/affiliate.js'
import type { AdjustFact, CloseFact, ReviewFact } from './domain/commission/accrual.js'
import type { JsMsg } from 'nats'
import type { BatchFailure } from './results.js'
import { retrying } from './retry.js'

export type AffiliateStageStats = {
  batches: number
  facts: number
  lines: number
  /** period closes applied, the statements they made, and how long the last one took (ms) */
  closes: number
  statements: number
  lastCloseMs: number
  /** where the last close's time went (ms): books loaded, phase 1, collected in SQL, statements made, rows written, books saved */
  lastCloseSteps: Record<'load' | 'finalise' | 'collect' | 'seal' | 'write' | 'save', number>
  applied: number
  retries: number
  /** gaps seen in the consumer's deliveries (each one opened the consumer again; see feed.ts) */
  gaps: number
  failure: BatchFailure | null
}

type Progress = { applied: number; pending?: { first: number; last: number } }

export type AffiliateStageDeps = {
  nc: NatsConnection
  ch: ClickHouseClient
  books: BookStore
  /** reference data as the watches hold it now */
  reference: () => ReferenceData
  /** every affiliate's id: a close visits all their books */
  affiliates: () => Iterable<number>
  /** where the facts are applied: the piscina pool of processor/worker.ts (tests may compute in-process) */
  pool: { run(task: AffiliateTask): Promise<AffiliateTaskOutput>; run(task: CloseTask): Promise<CloseTaskOutput> }
  progressKv: KV
  log: Logger
  consumer: string
  batchMessages: number
  batchWaitMs: number
}

const dec = new TextDecoder()
const enc = new TextEncoder()

export class AffiliateStage {
  #stopping = false
  #loop: Promise<void> = Promise.resolve()
  #feed: BatchFeed | undefined
  #pending: Progress['pending']
  /** the program's closes so far (changed by closes only) */
  #program: ProgramBook = emptyProgram()
  readonly stats: AffiliateStageStats = {
    batches: 0,
    facts: 0,
    lines: 0,
    closes: 0,
    statements: 0,
    lastCloseMs: 0,
    lastCloseSteps: { load: 0, finalise: 0, collect: 0, seal: 0, write: 0, save: 0 },
    applied: 0,
    retries: 0,
    gaps: 0,
    failure: null,
  }

  constructor(private readonly d: AffiliateStageDeps) {}

  async start(): Promise<void> {
    const e = await this.d.progressKv.get(this.d.consumer)
    const p: Progress = e && e.operation === 'PUT' ? (JSON.parse(dec.decode(e.value)) as Progress) : { applied: 0 }
    this.stats.applied = p.applied
    this.#pending = p.pending
    this.#program = await this.d.books.loadProgram()
    if (p.pending) this.d.log.warn({ pending: p.pending }, 'affiliate stage: redoing the batch that was in flight when it stopped')
    // resume right after the last batch applied (as the player stage does: see feed.ts)
    this.#feed = await consumerFeed(this.d.nc, {
      stream: ACCRUALS_STREAM,
      consumer: this.d.consumer,
      config: { ack_wait: nanos(60_000) },
      batchMessages: this.d.batchMessages,
      batchWaitMs: this.d.batchWaitMs,
      applied: () => this.stats.applied,
      log: this.d.log,
    })
    this.#loop = this.#run()
  }

  async stop(): Promise<void> {
    this.#stopping = true
    this.#feed?.stop()
    await this.#loop
    this.#feed?.close()
  }

  async lag(): Promise<number> {
    const info = await (await this.d.nc.jetstreamManager()).consumers.info(ACCRUALS_STREAM, this.d.consumer)
    return info.num_pending + info.num_ack_pending
  }

  async #run() {
    while (!this.#stopping) {
      const got = await this.#feed!.next(this.#pending)
      this.stats.gaps = this.#feed!.gaps
      if (!got) return
      if (got.pendingDone) {
        this.#pending = undefined
        continue
      }
      // a close is a batch of its own (the player stage sends it in a message of its own)
      for (const run of runsOf(got.batch)) {
        const done = await retrying(
          run.msgs,
          { stats: this.stats, stopping: () => this.#stopping, log: this.d.log, what: run.close ? 'period close' : 'affiliate stage batch' },
          async () => {
            if (run.close) await this.#close(run.msgs[0]!.seq, run.close)
            else await this.#process(run.msgs.map((m) => ({ seq: m.seq, data: m.data })))
            await run.msgs.at(-1)!.ackAck()
            return true
          },
        )
        if (!done) return
      }
    }
  }

  /** Record a range as the one in flight, unless it is the pending one being redone; true when it is. */
  async #begin(first: number, last: number): Promise<boolean> {
    if (this.#pending?.first === first && this.#pending.last === last) return true
    this.#pending = { first, last }
    await this.d.progressKv.put(this.d.consumer, enc.encode(JSON.stringify({ applied: this.stats.applied, pending: this.#pending } satisfies Progress)))
    return false
  }

  async #done(last: number) {
    await this.d.progressKv.put(this.d.consumer, enc.encode(JSON.stringify({ applied: last } satisfies Progress)))
    this.#pending = undefined
    this.stats.applied = last
    this.stats.batches++
  }

  #publishDelta(first: number, last: number, rows: LiveDelta['rows']) {
    const live: LiveDelta = { consumer: this.d.consumer, from: first, to: last, rows }
    if (live.rows.length > 0) this.d.nc.publish(LIVE_DELTA_SUBJECT, enc.encode(JSON.stringify(live)))
  }

  /**
   * A period close (docs/settlement.md), as one batch: phase 1 over every affiliate's books on a
   * worker, its lines written; then what the close takes of each chain, collected in SQL (the
   * chain bounded by its length after phase 1, so lines a crashed try wrote after that are not
   * seen); then the statements, their rounding lines and seals, written; then the books and the
   * program's closes saved. A redo after a crash computes the same lines and rows from the same
   * saved books: each has one place (affiliate and number; affiliate and period), so a row
   * written twice is one, and fresh insert tokens are safe.
   */
  async #close(seq: number, close: CloseFact) {
    const t0 = performance.now()
    const steps = { load: 0, finalise: 0, collect: 0, seal: 0, write: 0, save: 0 }
    let mark = t0
    const lap = (k: keyof typeof steps) => {
      const now = performance.now()
      steps[k] += Math.round(now - mark)
      mark = now
    }
    await this.#begin(seq, seq)
    const data = this.d.reference()
    // A close changes many books, and their save can be cut short by a crash: a redo starts from
    // each book as it was before this close (kept beside it), so it computes what the first try did.
    const range = { first: seq, last: seq }
    const loaded = await this.d.books.load(this.d.affiliates(), [])
    const books = beforeRange(loaded, range)
    const token = (what: string) => `${this.d.consumer}:${seq}-${seq}:${what}`
    lap('load')
    const p1 = await this.d.pool.run({ kind: 'close', step: 'finalise', close, accSeq: seq, books, program: this.#program, ref: data })
    lap('finalise')
    if (!p1.applied) {
      this.d.log.warn({ period: close.period }, 'a close of a period already closed: nothing to do')
      return this.#done(seq)
    }
    /** how many distinct rows (by `key`) of the close a table holds */
    const count = (key: string, from: string) => async () =>
      Number((await queryRows<{ n: string }>(this.d.ch, `SELECT toString(uniqExact(${key})) AS n FROM ${from}`, { s: seq, p: close.period }))[0]?.n ?? 0)
    await this.#insertOnce(
      { ...LINES_INSERT, body: p1.rows, token: token('finalise') },
      count('affiliate_id, no', "ledger_lines WHERE acc_seq = {s:UInt64} AND kind != 'rounding'"),
    )
    const kind = periodKindOf(close.period)!
    const bounds = Object.entries(p1.books)
      .filter(([, b]) => b.at !== undefined || b.lines > 0)
      .map(([a, b]) => ({ affiliateId: Number(a), no: b.lines, ...(b.closes?.[kind] ? { previous: b.closes[kind] } : {}) }))
    lap('write')
    const collected = Object.fromEntries(await collectInSql(this.d.ch, close, bounds))
    lap('collect')
    const p2 = await this.d.pool.run({ kind: 'close', step: 'seal', close, accSeq: seq, books: p1.books, program: p1.program, ref: data, collected })
    lap('seal')
    await this.#insertOnce(
      { ...LINES_INSERT, body: p2.rows, token: token('rounding') },
      count('affiliate_id, no', "ledger_lines WHERE acc_seq = {s:UInt64} AND kind = 'rounding'"),
    )
    const rows = p2.statementRows!
    const tsv = { format: 'TabSeparated' } as const
    // the statement itself last: a reader that sees it sees its lines and totals
    await this.#insertOnce(
      { ...tsv, table: 'statement_lines', columns: STATEMENT_LINE_COLUMNS, body: rows.lines, token: token('statement_lines') },
      count('affiliate_id, kind, deal_id, deal_version, currency', 'statement_lines WHERE period = {p:String}'),
    )
    await this.#insertOnce(
      { ...tsv, table: 'statement_totals', columns: STATEMENT_TOTAL_COLUMNS, body: rows.totals, token: token('statement_totals') },
      count('affiliate_id, currency', 'statement_totals WHERE period = {p:String}'),
    )
    await this.#insertOnce(
      { ...tsv, table: 'statements', columns: STATEMENT_COLUMNS, body: rows.statements, token: token('statements') },
      count('affiliate_id', 'statements WHERE period = {p:String}'),
    )
    lap('write')
    await this.d.books.save(withPre(p2.books, books, loaded, range))
    // last: once the program's books say the period is closed, every affiliate's book does too
    await this.d.books.save({}, p2.program)
    lap('save')
    this.#program = p2.program
    this.#publishDelta(seq, seq, [...p1.delta, ...p2.delta])
    this.d.log.info({ period: close.period, statements: p2.statements.length, lines: p1.lines + p2.lines }, 'period closed')
    await this.#done(seq)
    this.stats.closes++
    this.stats.lastCloseMs = Math.round(performance.now() - t0)
    this.stats.lastCloseSteps = steps
    this.stats.statements += p2.statements.length
    this.stats.lines += p1.lines + p2.lines
  }

  /**
   * Rows that must be in ClickHouse once, whether this is a first try or a redo: none there, they
   * are inserted under the batch's token (a repeat of a recorded insert is dropped); then checked,
   * because chDB may record a token and lose its part, in which case they are written again under
   * a fresh token. All there (a redo after the insert went through): nothing is written. Some
   * there: never guess which.
   */
  async #insertOnce(q: Parameters<typeof insertFormatted>[1], count: () => Promise<number>) {
    const expected = q.body ? q.body.split('\n').length - 1 : 0
    if (expected === 0) return
    const before = await count()
    if (before >= expected) return
    if (before === 0) {
      await insertFormatted(this.d.ch, q)
      const after = await count()
      if (after >= expected) return
      if (after === 0) {
        this.d.log.warn({ table: q.table, rows: expected }, 'a close found its rows missing although their insert was recorded; writing them again')
        return insertFormatted(this.d.ch, { ...q, token: `${q.token}:redo:${Date.now()}` })
      }
    }
    throw new Error(`${q.table} holds some but not all of the ${expected} rows of ${q.token}; not guessing which are missing`)
  }

  /** Lines of an accrual batch already in ClickHouse (each place counted once). */
  async #present(first: number, last: number): Promise<number> {
    const [r] = await queryRows<{ n: string }>(
      this.d.ch,
      'SELECT toString(uniqExact(affiliate_id, no)) AS n FROM ledger_lines WHERE acc_seq BETWEEN {f:UInt64} AND {l:UInt64}',
      { f: first, l: last },
    )
    return Number(r?.n ?? 0)
  }

  async #process(batch: { seq: number; data: Uint8Array }[]) {
    const facts: EngineFact[] = []
    const accSeq: number[] = []
    for (const m of batch)
      for (const line of dec.decode(m.data).split('\n'))
        if (line) {
          facts.push(JSON.parse(line) as EngineFact)
          accSeq.push(m.seq)
        }
    const data = this.d.reference()
    const ref = referenceOf(data)
    // the books the facts touch: their affiliates, the recruiters above them (sub-affiliate shares), the players' parts
    const affs = new Set<number>()
    for (const f of facts) {
      affs.add(f.affiliateId)
      let a: number | undefined = f.affiliateId
      for (let i = 0; i < MAX_SUB_DEPTH && a !== undefined; i++) {
        a = ref.parentOf(a, f.occurredAt)
        if (a !== undefined) affs.add(a)
      }
    }
    const first = batch[0]!.seq
    const last = batch.at(-1)!.seq
    const redo = await this.#begin(first, last)
    const books = await this.d.books.load(
      affs,
      facts.flatMap((f) => (f.type === 'adjust' || f.type === 'conversion' ? [] : [[f.affiliateId, f.playerKey] as [number, string]])),
    )
    // The books as they were before this range: a try of it that died may have saved some
    // and not others (a recruiter's share is written by its sub-affiliate's facts), and a redo
    // from a mix would number the chains differently from what the first try wrote.
    const loaded = books
    const input = beforeRange(loaded, { first, last })
    const out = await this.d.pool.run({ kind: 'affiliate', facts, accSeq, books: input, program: this.#program, ref: data })
    const token = `${this.d.consumer}:${first}-${last}`
    if (!redo) await insertFormatted(this.d.ch, { ...LINES_INSERT, body: out.rows, token })
    else {
      // Books saved for some affiliates mean the insert before them went through; none saved:
      // the lines are all there (skip), none there (write them, with a token of their own:
      // chDB may have kept the first token and lost its part), or some: never guess.
      const have = await this.#present(first, last)
      if (have === 0 && out.lines > 0) {
        this.d.log.warn({ first, last, lines: out.lines }, 'affiliate stage: a redone batch found none of its lines; writing them')
        await insertFormatted(this.d.ch, { ...LINES_INSERT, body: out.rows, token: `${token}:redo:${Date.now()}` })
      } else if (have > 0 && have < out.lines)
        throw new Error(`ledger_lines holds ${have} of the ${out.lines} lines of accrual batch ${first}-${last}; not guessing which are missing`)
    }
    await this.d.books.save(withPre(out.books, input, loaded, { first, last }))
    // after the books: a reader the delta wakes finds the running balances it changed
    this.#publishDelta(first, last, out.delta)
    await this.#done(last)
    this.stats.facts += facts.length
    this.stats.lines += out.lines
  }
}

/** A batch split into runs: messages of facts, and each close alone (a close message holds only it). */
function runsOf(batch: JsMsg[]): { msgs: JsMsg[]; close?: CloseFact }[] {
  const runs: { msgs: JsMsg[]; close?: CloseFact }[] = []
  let facts: JsMsg[] = []
  for (const m of batch) {
    // a close is alone in its message: one line
    const text = dec.decode(m.data).trim()
    const one = text.includes('\n') ? undefined : (JSON.parse(text) as CloseFact | AccrualFact)
    if (one?.type === 'close') {
      if (facts.length > 0) runs.push({ msgs: facts })
      facts = []
      runs.push({ msgs: [m], close: one })
    } else facts.push(m)
  }
  if (facts.length > 0) runs.push({ msgs: facts })
  return runs
}

type Range = { first: number; last: number }
type Player = Books[string]['players'][string]
const sameRange = (p: { first: number; last: number } | undefined, r: Range) => p !== undefined && p.first === r.first && p.last === r.last

/** The books (cores and player parts) as they were before a range: a key a try of this range
 *  saved carries its state from before it; any other key is as loaded. Without `pre` fields. */
function beforeRange(loaded: Books, r: Range): Books {
  const out: Books = {}
  for (const [a, b] of Object.entries(loaded)) {
    const { pre, players, ...core } = b
    const base = sameRange(pre, r) ? pre!.was : core
    const ps: Record<string, Player> = {}
    for (const [k, p] of Object.entries(players)) {
      const { pre: pp, ...part } = p
      if (!sameRange(pp, r)) ps[k] = part
      else if (pp!.was) ps[k] = pp!.was
    }
    out[a] = base ? { ...base, players: ps } : { ...emptyBook(), players: ps }
  }
  return out
}

/** What to save after a range: each core and player part it changed, with its state from
 *  before the range beside it (until its next change); any other as it was loaded, so the
 *  store finds it unchanged and writes nothing. */
function withPre(after: Books, before: Books, loaded: Books, r: Range): Books {
  const out: Books = {}
  for (const [a, b] of Object.entries(after)) {
    const { players, pre: _drop, ...core } = b
    const was = before[a]
    const { players: wasPlayers = {}, pre: _wasPre, ...wasCore } = was ?? { players: {} }
    const raw = loaded[a]
    const coreSame = was !== undefined && JSON.stringify(core) === JSON.stringify(wasCore)
    const ps: Record<string, Player> = {}
    for (const [k, p] of Object.entries(players)) {
      const { pre: _p, ...part } = p
      const wp = wasPlayers[k]
      if (wp !== undefined && JSON.stringify(part) === JSON.stringify(wp)) continue
      ps[k] = { ...part, pre: { ...r, was: wp ?? null } }
    }
    if (coreSame && raw !== undefined) {
      // the core as it was loaded (the store finds its text unchanged), and only the changed parts
      if (Object.keys(ps).length > 0) out[a] = { ...raw, players: ps }
      continue
    }
    out[a] = { ...core, pre: { ...r, was: was ? (wasCore as Omit<Books[string], 'players' | 'pre'>) : null }, players: ps }
  }
  return out
}
