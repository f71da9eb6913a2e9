/**
 * Group-committed publishing to the event stream.
 *
 * Requests enqueue events and wait for one shared flush: all events that arrive while a
 * flush is in flight go out together in the next one (one await per flush, not per event).
 * Clicks of a flush travel as one NDJSON message: a publish per click caps out near 16k/s
 * on this machine kind, a message of many clicks at over 400k clicks/s. A conversion is one
 * message with its idempotency key as Nats-Msg-Id, sent in the same flush.
 *
 * A failed publish is retried with backoff under the same Nats-Msg-Id (the stream drops a
 * repeat), so nothing is lost or doubled while NATS is briefly away.
 */
import { randomBytes } from 'node:crypto'
import type { NatsConnection, PubAck } from 'nats'
import type { Logger } from '../common/log.js'
import { encodeEvents, type ClickEvent, type ConversionEvent } from '../common/events.js'

/** Characters per click message: at most 3 UTF-8 bytes each, so under nats-server's
 *  default max_payload of 1 MiB. */
const MAX_MESSAGE_CHARS = 300_000
const enc = new TextEncoder()
import { eventSubject, partitionOf } from '../common/subjects.js'
import { StreamWriter } from './stream-writer.js'

type Waiter = { resolve: (ack: PubAck | undefined) => void; reject: (err: Error) => void; at: number }
type Single = { subject: string; msgId: string; data: Uint8Array; waiters: Waiter[] }

export type PublisherStats = { published: number; flushes: number; retries: number; queued: number; failed: number }

export class ShuttingDownError extends Error {}

export class Publisher {
  #clicks: ClickEvent[] = []
  #clickWaiters: Waiter[] = []
  #singles: Single[] = []
  #inflight = 0
  #scheduled = false
  #closed = false
  #batchNo = 0
  readonly #instance = randomBytes(6).toString('base64url')
  readonly #idle: (() => void)[] = []
  readonly stats: PublisherStats = { published: 0, flushes: 0, retries: 0, queued: 0, failed: 0 }

  readonly #writer: StreamWriter

  constructor(
    nc: NatsConnection,
    private readonly opts: { partitions: number; maxBatchEvents: number; maxInflight: number; log: Logger; clickAckTimeoutMs?: number },
  ) {
    // A click is never lost by a slow store: the publisher keeps retrying, but the visitor
    // is redirected at the latest after clickAckTimeoutMs (the click promise resolves with
    // no ack). One sweep for all waiting clicks instead of a timer per click.
    const timeout = opts.clickAckTimeoutMs ?? 2000
    this.#writer = new StreamWriter(nc, 5000)
    this.#sweeper = setInterval(() => this.#sweep(Date.now() - timeout), Math.min(250, timeout)).unref()
  }

  #sweeper: NodeJS.Timeout
  readonly #inflightWaiters = new Set<Waiter[]>()

  #sweep(cutoff: number) {
    for (const w of this.#clickWaiters) {
      if (w.at > cutoff) break
      this.#settle(w, undefined)
    }
    for (const ws of this.#inflightWaiters) if (ws[0] && ws[0].at <= cutoff) for (const w of ws) this.#settle(w, undefined)
  }

  /** Queue a click; resolves with the ack when JetStream has stored it (or with nothing
   *  after the ack timeout: the click stays queued and is retried). */
  click(e: ClickEvent): Promise<PubAck | undefined> {
    return new Promise((resolve, reject) => this.clickThen(e, resolve, reject))
  }

  /** The same without a promise per click: the hot path's form. */
  clickThen(e: ClickEvent, done: (ack: PubAck | undefined) => void, failed: (err: Error) => void): void {
    if (this.#closed) return failed(new ShuttingDownError('ingest is shutting down'))
    this.#clicks.push(e)
    this.#clickWaiters.push({ resolve: done, reject: failed, at: Date.now() })
    this.stats.queued++
    this.#schedule()
  }

  /** Queue one conversion under its idempotency key; resolves with the stream's ack. */
  conversion(e: ConversionEvent, partitionKey: string): Promise<PubAck> {
    if (this.#closed) return Promise.reject(new ShuttingDownError('ingest is shutting down'))
    return new Promise<PubAck | undefined>((resolve, reject) => {
      const subject = eventSubject(partitionOf(partitionKey, this.opts.partitions), e.kind)
      this.#singles.push({ subject, msgId: `cv:${e.id}`, data: encodeEvents([e]), waiters: [{ resolve, reject, at: Date.now() }] })
      this.stats.queued++
      this.#schedule()
    }) as Promise<PubAck>
  }

  #schedule() {
    if (this.#scheduled || this.#inflight >= this.opts.maxInflight) return
    this.#scheduled = true
    // setImmediate runs after the current poll phase, so every request parsed in this
    // loop turn joins the same flush.
    setImmediate(() => {
      this.#scheduled = false
      void this.#flush()
    })
  }

  async #flush() {
    if (this.#clicks.length === 0 && this.#singles.length === 0) return this.#checkIdle()
    this.#inflight++
    const clicks = this.#clicks.splice(0, this.opts.maxBatchEvents)
    const clickWaiters = this.#clickWaiters.splice(0, clicks.length)
    const singles = this.#singles.splice(0, this.opts.maxBatchEvents)
    this.stats.flushes++
    const jobs: Promise<void>[] = []
    // Clicks go out as NDJSON messages of at most MAX_MESSAGE_CHARS each.
    let lines = ''
    let from = 0
    const flushChunk = (to: number) => {
      if (to === from) return
      const subject = eventSubject(partitionOf(clicks[from]!.id, this.opts.partitions), 'click')
      const msgId = `cb:${this.#instance}:${++this.#batchNo}`
      jobs.push(this.#publish(subject, msgId, enc.encode(lines), clickWaiters.slice(from, to), to - from, true))
      lines = ''
      from = to
    }
    for (let i = 0; i < clicks.length; i++) {
      const line = JSON.stringify(clicks[i]) + '\n'
      if (lines.length + line.length > MAX_MESSAGE_CHARS) flushChunk(i)
      lines += line
    }
    flushChunk(clicks.length)
    for (const s of singles) jobs.push(this.#publish(s.subject, s.msgId, s.data, s.waiters, 1))
    await Promise.all(jobs)
    this.#inflight--
    if (this.#clicks.length > 0 || this.#singles.length > 0) this.#schedule()
    else this.#checkIdle()
  }

  /** `clicks`: these waiters may be released by the ack-timeout sweep; a conversion's never are. */
  async #publish(subject: string, msgId: string, data: Uint8Array, waiters: Waiter[], events: number, clicks = false): Promise<void> {
    if (clicks) this.#inflightWaiters.add(waiters)
    try {
      await this.#publishWithRetry(subject, msgId, data, waiters, events)
    } finally {
      this.#inflightWaiters.delete(waiters)
    }
  }

  async #publishWithRetry(subject: string, msgId: string, data: Uint8Array, waiters: Waiter[], events: number): Promise<void> {
    let delay = 50
    let ack: PubAck
    for (let attempt = 1; ; attempt++) {
      try {
        ack = await this.#writer.publish(subject, data, msgId)
        this.stats.published += events
        this.stats.queued -= events
      } catch (err) {
        // Keep trying while the process lives: the events are already promised to callers
        // (clicks were redirected). Shutdown gives up after a bounded time.
        if (this.#closed && attempt > 20) {
          this.stats.failed += events
          this.stats.queued -= events
          this.opts.log.error({ err, subject, events }, 'giving up publishing at shutdown')
          for (const w of waiters) w.reject(err as Error)
          return
        }
        this.stats.retries++
        if (attempt === 1 || attempt % 20 === 0) this.opts.log.warn({ err: (err as Error).message, subject, attempt }, 'publish failed, retrying')
        await new Promise((r) => setTimeout(r, delay))
        delay = Math.min(delay * 2, 2000)
        continue
      }
      // Outside the try: a waiter that throws must not look like a failed publish.
      for (const w of waiters) this.#settle(w, ack)
      return
    }
  }

  /** Tell a waiter; a waiter's own failure is logged, never allowed to reach the publisher. */
  #settle(w: Waiter, ack: PubAck | undefined) {
    try {
      w.resolve(ack)
    } catch (err) {
      this.opts.log.error({ err }, 'a publish waiter failed')
    }
  }

  #checkIdle() {
    if (this.#inflight === 0 && this.#clicks.length === 0 && this.#singles.length === 0) {
      for (const r of this.#idle.splice(0)) r()
    }
  }

  /** Stop accepting and wait until everything queued is stored. */
  async drain(): Promise<void> {
    this.#closed = true
    clearInterval(this.#sweeper)
    if (this.#inflight > 0 || this.#clicks.length > 0 || this.#singles.length > 0) {
      await new Promise<void>((r) => {
        this.#idle.push(r)
        this.#schedule()
      })
    }
    this.#writer.close()
  }
}
