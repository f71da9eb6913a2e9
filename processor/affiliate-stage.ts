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
import type { AccrualFact } from './domain/commission/accrual.js'
import { MAX_SUB_DEPTH } from './domain/commission/affiliate.js'
import { LINES_INSERT, referenceOf, type AffiliateTask, type AffiliateTaskOutput, type ReferenceData } from './affiliate-compute.js'
import type { BatchFailure } from './results.js'
import { retrying } from './retry.js'

export type AffiliateStageStats = {
  batches: number
  facts: number
  lines: number
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
  /** where the facts are applied: the piscina pool of processor/worker.ts (tests may compute in-process) */
  pool: { run(task: AffiliateTask): Promise<AffiliateTaskOutput> }
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
  readonly stats: AffiliateStageStats = { batches: 0, facts: 0, lines: 0, applied: 0, retries: 0, gaps: 0, failure: null }

  constructor(private readonly d: AffiliateStageDeps) {}

  async start(): Promise<void> {
    const e = await this.d.progressKv.get(this.d.consumer)
    const p: Progress = e && e.operation === 'PUT' ? (JSON.parse(dec.decode(e.value)) as Progress) : { applied: 0 }
    this.stats.applied = p.applied
    this.#pending = p.pending
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
      const batch = got.batch
      if (batch.length === 0) continue
      const done = await retrying(batch, { stats: this.stats, stopping: () => this.#stopping, log: this.d.log, what: 'affiliate stage batch' }, async () => {
        await this.#process(batch.map((m) => ({ seq: m.seq, data: m.data })))
        await batch.at(-1)!.ackAck()
        return true
      })
      if (!done) return
    }
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
    const facts: AccrualFact[] = []
    const accSeq: number[] = []
    for (const m of batch)
      for (const line of dec.decode(m.data).split('\n'))
        if (line) {
          facts.push(JSON.parse(line) as AccrualFact)
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
    const redo = this.#pending?.first === first && this.#pending.last === last
    if (!redo) {
      this.#pending = { first, last }
      await this.d.progressKv.put(this.d.consumer, enc.encode(JSON.stringify({ applied: this.stats.applied, pending: this.#pending } satisfies Progress)))
    }
    const books = await this.d.books.load(
      affs,
      facts.map((f) => [f.affiliateId, f.playerKey] as [number, string]),
    )
    const out = await this.d.pool.run({ kind: 'affiliate', facts, accSeq, books, ref: data })
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
    await this.d.books.save(out.books)
    // after the books: a reader the delta wakes finds the running balances it changed
    const live: LiveDelta = { consumer: this.d.consumer, from: first, to: last, rows: out.delta }
    if (live.rows.length > 0) this.d.nc.publish(LIVE_DELTA_SUBJECT, enc.encode(JSON.stringify(live)))
    await this.d.progressKv.put(this.d.consumer, enc.encode(JSON.stringify({ applied: last } satisfies Progress)))
    this.#pending = undefined
    this.stats.applied = last
    this.stats.batches++
    this.stats.facts += facts.length
    this.stats.lines += out.lines
  }
}
