/**
 * The affiliate stage's runner: the only writer of ledger lines. Per batch of accrual facts
 * (ACCRUALS stream, in the order the player stage published them, which is cause order):
 *
 *   1. load the books of the affiliates the facts touch, their recruiters, and the players'
 *      parts (KV)
 *   2. apply the facts (processor/domain/commission/affiliate.ts, pure)
 *   3. insert the lines (ClickHouse `ledger_lines`)
 *   4. save the books, then acknowledge the batch
 *
 * Exactly once without a pending range: a line's place is (affiliate, its number in the
 * chain), and the same books and facts give the same lines, so a batch redone after a crash
 * writes rows identical to those already there (the table keeps one per place), and a fact at
 * or below an affiliate's saved position is skipped.
 *
 * With one player stage (embedded mode) its publishing order is cause order. Several player
 * stages (distributed mode) will release facts up to the lowest position all have finished.
 */
import { AckPolicy, DeliverPolicy, nanos, type Consumer, type KV, type NatsConnection } from 'nats'
import type { ClickHouseClient } from '../clickhouse/client.js'
import { insertFormatted } from '../clickhouse/client.js'
import { chTime } from '../common/chtime.js'
import type { Logger } from '../common/log.js'
import { sleep } from '../common/nats.js'
import { ACCRUALS_STREAM } from '../common/subjects.js'
import { ledgerAmount } from '../common/money.js'
import type { BookStore } from './books.js'
import type { AccrualFact } from './domain/commission/accrual.js'
import { applyFacts, MAX_SUB_DEPTH, type NumberedLine, type Reference } from './domain/commission/affiliate.js'
import { retryDelayMs, type BatchFailure } from './results.js'

export type AffiliateStageStats = { batches: number; facts: number; lines: number; applied: number; retries: number; failure: BatchFailure | null }

export type AffiliateStageDeps = {
  nc: NatsConnection
  ch: ClickHouseClient
  books: BookStore
  /** reference data as the watches hold it now */
  reference: () => Reference
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
  #consumer: Consumer | undefined
  readonly stats: AffiliateStageStats = { batches: 0, facts: 0, lines: 0, applied: 0, retries: 0, failure: null }

  constructor(private readonly d: AffiliateStageDeps) {}

  async start(): Promise<void> {
    const e = await this.d.progressKv.get(this.d.consumer)
    this.stats.applied = e && e.operation === 'PUT' ? (JSON.parse(dec.decode(e.value)) as { applied: number }).applied : 0
    // resume right after the last batch applied (as the player stage does: see consumer.ts)
    const jsm = await this.d.nc.jetstreamManager()
    try {
      await jsm.consumers.delete(ACCRUALS_STREAM, this.d.consumer)
    } catch (err) {
      if (!String((err as Error).message).includes('not found')) throw err
    }
    await jsm.consumers.add(ACCRUALS_STREAM, {
      durable_name: this.d.consumer,
      ack_policy: AckPolicy.All,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: this.stats.applied + 1,
      ack_wait: nanos(60_000),
      max_deliver: -1,
    })
    this.#consumer = await this.d.nc.jetstream().consumers.get(ACCRUALS_STREAM, this.d.consumer)
    this.#loop = this.#run()
  }

  async stop(): Promise<void> {
    this.#stopping = true
    await this.#loop
  }

  async lag(): Promise<number> {
    const info = await (await this.d.nc.jetstreamManager()).consumers.info(ACCRUALS_STREAM, this.d.consumer)
    return info.num_pending + info.num_ack_pending
  }

  async #run() {
    while (!this.#stopping) {
      const batch = []
      const it = await this.#consumer!.fetch({ max_messages: this.d.batchMessages, expires: Math.max(1000, this.d.batchWaitMs) })
      for await (const m of it) batch.push(m)
      if (batch.length === 0) continue
      for (let tries = 1; ; tries++) {
        try {
          await this.#process(batch.map((m) => ({ seq: m.seq, data: m.data })))
          await batch.at(-1)!.ackAck()
          this.stats.failure = null
          break
        } catch (err) {
          if (this.#stopping) return
          this.stats.retries++
          const f: BatchFailure = { message: String((err as Error)?.message ?? err).slice(0, 500), tries, since: this.stats.failure?.since ?? new Date().toISOString(), first: batch[0]!.seq, last: batch.at(-1)!.seq, nextDelayMs: retryDelayMs(tries) }
          this.stats.failure = f
          this.d.log.error({ err, ...f }, 'affiliate stage batch failed: nothing of it acknowledged; retrying')
          await sleep(f.nextDelayMs)
        }
      }
    }
  }

  async #process(batch: { seq: number; data: Uint8Array }[]) {
    const facts: AccrualFact[] = []
    for (const m of batch) for (const line of dec.decode(m.data).split('\n')) if (line) facts.push(JSON.parse(line) as AccrualFact)
    const ref = this.d.reference()
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
    const books = await this.d.books.load(affs, facts.map((f) => [f.affiliateId, f.playerKey] as [number, string]))
    const out = applyFacts(books, facts, ref)
    await insertFormatted(this.d.ch, { table: 'ledger_lines', format: 'JSONEachRow', body: out.lines.map(lineRow).join(''), token: `${this.d.consumer}:${batch[0]!.seq}-${batch.at(-1)!.seq}` })
    await this.d.books.save(out.books)
    const last = batch.at(-1)!.seq
    await this.d.progressKv.put(this.d.consumer, enc.encode(JSON.stringify({ applied: last })))
    this.stats.applied = last
    this.stats.batches++
    this.stats.facts += facts.length
    this.stats.lines += out.lines.length
  }
}

/** A line as a `ledger_lines` row (JSONEachRow). */
export function lineRow(l: NumberedLine): string {
  return (
    JSON.stringify({
      affiliate_id: l.affiliateId,
      no: l.no,
      line_id: l.id,
      kind: l.kind,
      status: l.status,
      period: l.period,
      occurred_at: chTime(l.occurredAt),
      payable_at: l.payableAt === undefined ? null : chTime(l.payableAt),
      deal_id: l.dealId,
      deal_version: l.dealVersion,
      player_key: l.playerKey,
      player_ref: l.playerRef,
      cause_event_id: l.causeEventId,
      original_amount: ledgerAmount(l.originalAmount),
      original_currency: l.originalCurrency,
      amount: ledgerAmount(l.amount),
      currency: l.currency,
      fx_rate: ledgerAmount(l.fxRate),
      fx_date: l.fxDate,
      ref_line_id: l.refLineId ?? '',
      estimated: l.estimated ? 1 : 0,
      reason: l.reason,
      stream_seq: l.seq,
      stream_idx: l.idx,
      fact_n: l.n,
      prev_hash: l.prevHash,
      hash: l.hash,
    }) + '\n'
  )
}
