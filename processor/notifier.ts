/**
 * The notifier works the DELIVERIES queue: outbound postbacks to affiliates' endpoints,
 * retried with exponential backoff, every try logged, a dead letter after the last.
 * It runs with the processor (it writes the attempt log to the same ClickHouse).
 */
import { createHash } from 'node:crypto'
import { AckPolicy, type Consumer, type JsMsg, type NatsConnection } from 'nats'
import type { ClickHouseClient } from '../clickhouse/client.js'
import { insertFormatted } from '../clickhouse/client.js'
import type { Logger } from '../common/log.js'
import { sleep } from '../common/nats.js'
import { DELIVERY_STREAM, dlqSubject } from '../common/subjects.js'
import { backoffMs, type Delivery } from './outbound.js'
import { chTime } from './pipeline.js'

export type NotifierOptions = { maxAttempts: number; retryBaseMs: number; timeoutMs: number; concurrency?: number }
export type NotifierStats = { delivered: number; retried: number; dead: number; attempts: number }

type Attempt = {
  delivery_id: string
  event_id: string
  kind: string
  endpoint_id: number
  affiliate_id: number
  attempt: number
  ts: string
  url: string
  status_code: number
  error: string
  duration_ms: number
  outcome: 'delivered' | 'retry' | 'dead'
}

const enc = new TextEncoder()
const dec = new TextDecoder()
const DURABLE = 'notifier'

export class Notifier {
  readonly stats: NotifierStats = { delivered: 0, retried: 0, dead: 0, attempts: 0 }
  #running = false
  #loop?: Promise<void>

  constructor(
    private readonly nc: NatsConnection,
    private readonly ch: ClickHouseClient,
    private readonly log: Logger,
    private readonly opts: NotifierOptions,
  ) {}

  async start() {
    const jsm = await this.nc.jetstreamManager()
    // Retries are paced by nak(delay) and counted by us: no server-side delivery limit.
    await jsm.consumers.add(DELIVERY_STREAM, { durable_name: DURABLE, ack_policy: AckPolicy.Explicit, ack_wait: (this.opts.timeoutMs + 30_000) * 1_000_000, max_deliver: -1 })
    const consumer = await this.nc.jetstream().consumers.get(DELIVERY_STREAM, DURABLE)
    this.#running = true
    this.#loop = this.#run(consumer)
  }

  async #run(consumer: Consumer) {
    while (this.#running) {
      try {
        const msgs: JsMsg[] = []
        const iter = await consumer.fetch({ max_messages: this.opts.concurrency ?? 32, expires: 1000 })
        for await (const m of iter) msgs.push(m)
        if (msgs.length === 0) continue
        const attempts = await Promise.all(msgs.map((m) => this.#try(m)))
        // The log first, then the acks: a try is never unrecorded.
        // Its dedup token is what the batch is: which messages, at which try.
        const token = `pa:${createHash('sha256').update(msgs.map((m) => `${m.seq}.${m.info.deliveryCount}`).join(',')).digest('hex')}`
        await insertFormatted(this.ch, { table: 'postback_attempts', format: 'JSONEachRow', body: attempts.map((a) => JSON.stringify(a.row) + '\n').join(''), token })
        for (const a of attempts) await a.settle()
      } catch (err) {
        if (!this.#running) break
        this.log.error({ err }, 'notifier: batch failed; retrying')
        await sleep(500)
      }
    }
  }

  async #try(m: JsMsg): Promise<{ row: Attempt; settle: () => Promise<void> }> {
    const attempt = m.info.deliveryCount
    let d: Delivery
    try {
      d = JSON.parse(dec.decode(m.data)) as Delivery
    } catch {
      const row = this.#row({ id: `seq:${m.seq}`, endpointId: 0, affiliateId: 0, eventId: '', kind: '', url: '' }, attempt, 0, 'unreadable delivery', 0, 'dead')
      return { row, settle: async () => this.#dead(m, 'unreadable delivery') }
    }
    const t0 = performance.now()
    let status = 0
    let error = ''
    try {
      const r = await fetch(d.url, { method: 'GET', redirect: 'manual', signal: AbortSignal.timeout(this.opts.timeoutMs), headers: { 'user-agent': 'affiliate-platform-postback/1' } })
      status = r.status
      await r.body?.cancel()
      if (status < 200 || status > 299) error = `HTTP ${status}`
    } catch (err) {
      error = (err as Error).name === 'TimeoutError' ? `no answer within ${this.opts.timeoutMs} ms` : `${(err as Error).message}${(err as { cause?: Error }).cause ? `: ${(err as { cause: Error }).cause.message}` : ''}`
    }
    const ms = Math.round(performance.now() - t0)
    this.stats.attempts++
    if (!error) {
      this.stats.delivered++
      return { row: this.#row(d, attempt, status, '', ms, 'delivered'), settle: async () => void (await m.ackAck()) }
    }
    if (attempt >= this.opts.maxAttempts) {
      this.stats.dead++
      return { row: this.#row(d, attempt, status, error, ms, 'dead'), settle: () => this.#dead(m, `${error} (after ${attempt} tries)`) }
    }
    this.stats.retried++
    return { row: this.#row(d, attempt, status, error, ms, 'retry'), settle: async () => m.nak(backoffMs(attempt, this.opts.retryBaseMs)) }
  }

  #row(d: Delivery, attempt: number, status: number, error: string, ms: number, outcome: Attempt['outcome']): Attempt {
    return {
      delivery_id: d.id,
      event_id: d.eventId,
      kind: d.kind,
      endpoint_id: d.endpointId,
      affiliate_id: d.affiliateId,
      attempt,
      ts: chTime(Date.now()),
      url: d.url,
      status_code: status,
      error: error.slice(0, 500),
      duration_ms: ms,
      outcome,
    }
  }

  async #dead(m: JsMsg, reason: string) {
    await this.nc.jetstream().publish(dlqSubject('postback'), enc.encode(JSON.stringify({ reason, seq: m.seq, data: dec.decode(m.data) })), { msgID: `dlq:delivery:${m.seq}` })
    await m.ackAck()
  }

  async stop() {
    this.#running = false
    await this.#loop
  }
}
