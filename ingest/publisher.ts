/**
 * Group-committed publishing to the event stream.
 *
 * Requests enqueue events and wait for one shared flush: all events that arrive while a
 * flush is in flight go out together in the next one (one await per flush, not per event).
 * Clicks of a flush travel as one NDJSON message: a publish per click caps out near 16k/s
 * on this machine kind, a message of many clicks at over 400k clicks/s. A conversion is one
 * message with its idempotency key as Nats-Msg-Id, sent in the same flush.
 *
 * When JetStream cannot store clicks (NATS away, a publish failing or unanswered within the
 * click ack timeout), click batches go to the local spool (ingest/spool.ts) under the
 * Nats-Msg-Id they were first tried with, and a redirect waits for the fsync instead of the
 * stream. While the spool holds anything, new batches queue behind it, so clicks reach the
 * stream in the order they were taken; a recovery loop publishes it oldest first once the
 * stream answers again (or at the next start), then switches back to direct publishing.
 * A conversion is never spooled: during an outage it fails at once (StreamUnavailableError)
 * and the caller retries. `health` says whether the stream can be written (/readyz).
 */
import { randomBytes } from 'node:crypto'
import type { JetStreamManager, NatsConnection, PubAck } from 'nats'
import type { Logger } from '../common/log.js'
import { encodeEvents, type ClickEvent, type ConversionEvent } from '../common/events.js'
import { EVENTS_STREAM, eventSubject, partitionOf } from '../common/subjects.js'
import type { Spool } from './spool.js'
import { StreamWriter } from './stream-writer.js'

/** Characters per click message: at most 3 UTF-8 bytes each, so under nats-server's
 *  default max_payload of 1 MiB. */
const MAX_MESSAGE_CHARS = 300_000
const enc = new TextEncoder()

type Waiter = { resolve: (ack: PubAck | undefined) => void; reject: (err: Error) => void; at: number }
type Single = { subject: string; msgId: string; data: Uint8Array; waiters: Waiter[] }
/** A click message: direct (being published), spooled (the spool owns it), or done. */
type Chunk = { subject: string; msgId: string; data: Uint8Array; waiters: Waiter[]; events: number; at: number; state: 'direct' | 'spooled' | 'done' }

export type PublisherStats = { published: number; flushes: number; retries: number; queued: number; failed: number; spooled: number }
export type StreamHealth = { ok: true } | { ok: false; reason: string }

export class ShuttingDownError extends Error {}
/** The event stream cannot be written now (NATS away or refusing): answer 503, retry later. */
export class StreamUnavailableError extends Error {}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref())

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
  readonly stats: PublisherStats = { published: 0, flushes: 0, retries: 0, queued: 0, failed: 0, spooled: 0 }

  readonly #writer: StreamWriter
  readonly #spool: Spool | undefined
  readonly #timeoutMs: number
  #sweeper: NodeJS.Timeout
  /** click messages published directly and not yet answered */
  readonly #inflightChunks = new Set<Chunk>()
  /** no-spool mode: waiters of click messages being retried in memory */
  readonly #inflightWaiters = new Set<Waiter[]>()

  #connected = true
  #failing: string | undefined
  /** new click messages go to the spool (it holds some, or the stream is failing) */
  #spooling = false
  #recovering: Promise<void> | undefined
  #stopRecovery = false
  /** spooled messages the stream acknowledged after all: the recovery loop skips them */
  readonly #lateAcked = new Set<string>()
  readonly #spoolWrites = new Set<Promise<void>>()
  #jsm: JetStreamManager | undefined

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: { partitions: number; maxBatchEvents: number; maxInflight: number; log: Logger; clickAckTimeoutMs?: number; spool?: Spool },
  ) {
    // A redirect waits at most clickAckTimeoutMs: then its click message goes to the spool
    // (or, without one, the visitor is redirected and the message retried in memory). One
    // sweep for all waiting clicks instead of a timer per click.
    this.#timeoutMs = opts.clickAckTimeoutMs ?? 2000
    this.#spool = opts.spool
    this.#writer = new StreamWriter(nc, 5000)
    this.#sweeper = setInterval(() => this.#sweep(Date.now() - this.#timeoutMs), Math.min(250, this.#timeoutMs)).unref()
    void this.#watchConnection()
    if (this.#spool && !this.#spool.empty) {
      this.#spooling = true
      this.#startRecovery()
    }
  }

  /** Whether the event stream can be written now. */
  get health(): StreamHealth {
    if (!this.#connected) return { ok: false, reason: 'not connected to NATS' }
    if (this.#failing) return { ok: false, reason: `the event stream is not storing events: ${this.#failing}` }
    return { ok: true }
  }

  async #watchConnection() {
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect') {
        this.#connected = false
        this.#startRecovery()
      } else if (s.type === 'reconnect') this.#connected = true
    }
  }

  #fail(err: unknown) {
    this.#failing = err instanceof Error ? err.message : String(err)
    this.#startRecovery()
  }

  #sweep(cutoff: number) {
    if (this.#spool) {
      for (const c of this.#inflightChunks) {
        if (c.state !== 'direct' || c.at > cutoff) continue
        this.#fail(new Error(`no acknowledgement from the stream within ${this.#timeoutMs} ms`))
        void this.#toSpool(c)
      }
      // Clicks still queued behind publishes that hang (all slots taken): spool them too.
      if (!this.#spooling && this.#clickWaiters[0] && this.#clickWaiters[0].at <= cutoff) {
        this.#fail(new Error(`clicks waited ${this.#timeoutMs} ms for a publish slot`))
        this.#spooling = true
        this.#schedule()
      }
      return
    }
    for (const w of this.#clickWaiters) {
      if (w.at > cutoff) break
      this.#settle(w, undefined)
    }
    for (const ws of this.#inflightWaiters) if (ws[0] && ws[0].at <= cutoff) for (const w of ws) this.#settle(w, undefined)
  }

  /** Queue a click; resolves with the ack when JetStream has stored it, or with nothing
   *  once it is in the spool (or, without a spool, after the ack timeout). */
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

  /** Queue one conversion under its idempotency key; resolves with the stream's ack, or
   *  fails with StreamUnavailableError while the stream cannot be written. */
  conversion(e: ConversionEvent, partitionKey: string): Promise<PubAck> {
    if (this.#closed) return Promise.reject(new ShuttingDownError('ingest is shutting down'))
    const h = this.health
    if (!h.ok) return Promise.reject(new StreamUnavailableError(h.reason))
    return new Promise<PubAck | undefined>((resolve, reject) => {
      const subject = eventSubject(partitionOf(partitionKey, this.opts.partitions), e.kind)
      this.#singles.push({ subject, msgId: `cv:${e.id}`, data: encodeEvents([e]), waiters: [{ resolve, reject, at: Date.now() }] })
      this.stats.queued++
      this.#schedule()
    }) as Promise<PubAck>
  }

  #schedule() {
    // Spooling is bounded by the spool's own group commit, not by publishes in flight.
    if (this.#scheduled || (this.#inflight >= this.opts.maxInflight && !this.#spooling)) return
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
    const toSpool = this.#spool !== undefined && (this.#spooling || !this.health.ok)
    // Clicks go out as NDJSON messages of at most MAX_MESSAGE_CHARS each.
    let lines = ''
    let from = 0
    const flushChunk = (to: number) => {
      if (to === from) return
      const c: Chunk = {
        subject: eventSubject(partitionOf(clicks[from]!.id, this.opts.partitions), 'click'),
        msgId: `cb:${this.#instance}:${++this.#batchNo}`,
        data: enc.encode(lines),
        waiters: clickWaiters.slice(from, to),
        events: to - from,
        at: clickWaiters[from]!.at,
        state: 'direct',
      }
      jobs.push(toSpool ? this.#toSpool(c) : this.#spool ? this.#direct(c) : this.#publish(c.subject, c.msgId, c.data, c.waiters, c.events, true))
      lines = ''
      from = to
    }
    for (let i = 0; i < clicks.length; i++) {
      const line = JSON.stringify(clicks[i]) + '\n'
      if (lines.length + line.length > MAX_MESSAGE_CHARS) flushChunk(i)
      lines += line
    }
    flushChunk(clicks.length)
    for (const s of singles) jobs.push(this.#publishOnce(s))
    await Promise.all(jobs)
    this.#inflight--
    if (this.#clicks.length > 0 || this.#singles.length > 0) this.#schedule()
    else this.#checkIdle()
  }

  /** A click message straight to the stream; to the spool if that fails or takes too long. */
  async #direct(c: Chunk): Promise<void> {
    this.#inflightChunks.add(c)
    try {
      const ack = await this.#writer.publish(c.subject, c.data, c.msgId)
      this.#failing = undefined
      if (c.state === 'direct') {
        c.state = 'done'
        this.stats.published += c.events
        this.stats.queued -= c.events
        for (const w of c.waiters) this.#settle(w, ack)
      } else this.#lateAcked.add(c.msgId) // stored after all: the spooled copy is skipped
    } catch (err) {
      if (c.state !== 'direct') return
      this.#fail(err)
      await this.#toSpool(c)
    } finally {
      this.#inflightChunks.delete(c)
    }
  }

  /** Hand a click message to the spool; its waiters are released once it is on disk. */
  #toSpool(c: Chunk): Promise<void> {
    c.state = 'spooled'
    this.#spooling = true
    this.#startRecovery()
    const p = this.#spool!.append([{ subject: c.subject, msgId: c.msgId, data: c.data }]).then(
      () => {
        this.stats.spooled += c.events
        this.stats.queued -= c.events
        for (const w of c.waiters) this.#settle(w, undefined)
      },
      (err: unknown) => {
        // The disk refused: keep the message in memory and retry it, as without a spool.
        this.opts.log.error({ err, events: c.events }, 'cannot write the click spool; retrying the publish in memory')
        for (const w of c.waiters) this.#settle(w, undefined)
        return this.#publish(c.subject, c.msgId, c.data, [], c.events, true)
      },
    )
    this.#spoolWrites.add(p)
    void p.finally(() => this.#spoolWrites.delete(p))
    // A flush held back by publishes in flight may now go to the spool.
    this.#schedule()
    return p
  }

  #startRecovery() {
    if (this.#recovering || this.#stopRecovery) return
    const run = this.#recover()
    this.#recovering = run
    void run.finally(() => {
      if (this.#recovering === run) this.#recovering = undefined
    })
  }

  /**
   * Publish the spool oldest first, each message under its first Nats-Msg-Id, until it is
   * empty and the stream healthy; then new clicks are published directly again.
   */
  async #recover(): Promise<void> {
    let delay = 100
    const backoff = async (err: unknown) => {
      this.#fail(err)
      this.stats.retries++
      await sleep(delay)
      delay = Math.min(delay * 2, 2000)
    }
    while (!this.#stopRecovery) {
      if (!this.#connected) {
        await sleep(100)
        continue
      }
      const spool = this.#spool
      if (spool && !spool.empty) {
        let seg
        try {
          seg = await spool.oldest()
        } catch (err) {
          this.opts.log.error({ err }, 'cannot read the click spool')
          await backoff(err)
          continue
        }
        if (!seg) {
          await sleep(20) // a write in progress
          continue
        }
        for (const r of seg.records) {
          if (this.#lateAcked.delete(r.msgId)) continue
          for (;;) {
            if (this.#stopRecovery) return
            if (!this.#connected) {
              await sleep(100)
              continue
            }
            try {
              await this.#writer.publish(r.subject, r.data, r.msgId)
              this.#failing = undefined
              delay = 100
              this.stats.published += countLines(r.data)
              break
            } catch (err) {
              await backoff(err)
            }
          }
        }
        await spool.remove(seg.name)
        continue
      }
      if (this.#failing) {
        // Nothing spooled to try: ask the stream whether it answers again.
        try {
          this.#jsm ??= await this.nc.jetstreamManager()
          await this.#jsm.streams.info(EVENTS_STREAM)
          this.#failing = undefined
          delay = 100
        } catch (err) {
          await backoff(err)
          continue
        }
      }
      if (!spool || spool.empty) {
        this.#spooling = false
        this.#lateAcked.clear() // every spooled message is settled: nothing left to skip
        // Cleared here, not in a later microtask: a click message spooled in between must
        // be able to start the next recovery.
        this.#recovering = undefined
        this.#schedule()
        return
      }
    }
  }

  /** A conversion: one try. A failure goes back to the caller, who retries. */
  async #publishOnce(s: Single): Promise<void> {
    const h = this.health
    if (!h.ok) {
      this.stats.queued--
      for (const w of s.waiters) w.reject(new StreamUnavailableError(h.reason))
      return
    }
    let ack: PubAck
    try {
      ack = await this.#writer.publish(s.subject, s.data, s.msgId)
    } catch (err) {
      this.stats.queued--
      this.stats.failed++
      this.#fail(err)
      for (const w of s.waiters) w.reject(new StreamUnavailableError((err as Error).message))
      return
    }
    this.#failing = undefined
    this.stats.published++
    this.stats.queued--
    for (const w of s.waiters) this.#settle(w, ack)
  }

  /** Without a spool: retried in memory while the process lives. `clicks`: these waiters may
   *  be released by the ack-timeout sweep. */
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
        this.#failing = undefined
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
        this.#failing = (err as Error).message
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

  /** Stop accepting and wait until everything queued is stored or spooled. What the spool
   *  holds stays on disk for the next start. */
  async drain(): Promise<void> {
    this.#closed = true
    clearInterval(this.#sweeper)
    if (this.#inflight > 0 || this.#clicks.length > 0 || this.#singles.length > 0) {
      await new Promise<void>((r) => {
        this.#idle.push(r)
        this.#schedule()
      })
    }
    while (this.#spoolWrites.size) await Promise.all([...this.#spoolWrites])
    this.#stopRecovery = true
    await this.#recovering
    this.#writer.close()
    if (this.#spool) {
      if (!this.#spool.empty) this.opts.log.warn({ dir: this.#spool.dir }, 'stopping with clicks in the spool; they are published at the next start')
      await this.#spool.close()
    }
  }
}

function countLines(data: Uint8Array): number {
  let n = 0
  for (let i = 0; i < data.length; i++) if (data[i] === 10) n++
  return n
}
