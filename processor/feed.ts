/**
 * Batches from a JetStream pull consumer, for a stage that applies them in order: the
 * messages the consumer delivers, pulled while fewer than `bufferBytes` wait (each pull asks
 * for at most `pullBytes`, so neither the buffer nor what the server sends ahead grows with a
 * backlog: a consumer that asked for thousands of messages of up to a megabyte each was cut off
 * by the server as a slow consumer, and the app restarted on a backlog died of the timeouts),
 * buffered, handed out as a batch of up to `batchMessages`
 * messages or `batchBytes` bytes (whichever comes first; at least one message) once that much
 * is there or `batchWaitMs` has passed since the first. Bytes bound a batch of many-event
 * click messages; the count, one of single-event conversion messages. A range recorded as
 * pending (a batch in flight when the stage stopped) is handed out again with exactly its
 * boundaries. A message at or below the applied position (processed before a crash between
 * saving progress and the ack) is acknowledged and dropped; a redelivery of what is buffered
 * is dropped.
 *
 * Every message the consumer sends has the next delivery number. A jump means messages were
 * sent and never read (a pull given up on while they were on the way); acknowledging anything
 * after them (AckAll) would take them as done. So at a jump the feed drops what it holds and,
 * before handing out another batch (the one in hand is through by then), opens the consumer
 * again right after the stage's applied position (`reopen`).
 */
import { createRequire } from 'node:module'
import { AckPolicy, DeliverPolicy, type Consumer, type ConsumerConfig, type JsMsg, type NatsConnection } from 'nats'
import type { Logger } from '../common/log.js'

/** One pull from the consumer: messages up to `maxBytes` in all (the client library also caps
 *  their count), each as it comes, until `expiresMs` passes or the pull is full. */
export type Pull = (o: { maxBytes: number; expiresMs: number }) => Promise<AsyncIterable<JsMsg> & { stop(): void }>

/**
 * Pulls from a JetStream consumer, each asking the server for up to `PULL_MESSAGES` messages and
 * `maxBytes` bytes, whichever comes first (a JetStream pull request takes both). The client
 * library's pull takes one or the other: by count alone, thousands of group-committed click
 * messages of up to a megabyte each were asked for at once (the server cut the consumer off as
 * slow); by bytes alone, it asks for 100 messages a pull, too few for one-event conversion
 * messages. So its pull is made here with both (`BoundedPull` below, on the library's pull
 * class, version pinned by the lockfile); the server sends no end when the count is reached, so
 * the pull ends here once that many have come (it was asked for exactly that many: none is left
 * in flight). When bytes run out first the server says so and the library ends the pull.
 */
export const PULL_MESSAGES = 2_000

// the library's pull class and timer (nats 2.x internals, no public way to send both bounds)
const require = createRequire(import.meta.url)
const internals = require('nats/lib/jetstream/consumer.js') as { PullConsumerMessagesImpl: new (c: Consumer, opts: object, refilling: boolean) => PullIterator }
const { timeout } = require('nats/lib/nats-base-client/util.js') as { timeout: (ms: number) => Promise<void> & { cancel(): void } }
type PullIterator = AsyncIterable<JsMsg> & {
  opts: { expires: number }
  stop(): void
  close(): Promise<void>
  closed(): Promise<unknown>
  trackTimeout(t: unknown): void
  parseOptions(opts: object, refilling: boolean): Record<string, unknown>
}

class BoundedPull extends (internals.PullConsumerMessagesImpl as unknown as new (c: Consumer, opts: object, refilling: boolean) => PullIterator) {
  override parseOptions(opts: { max_bytes?: number }, refilling: boolean): Record<string, unknown> {
    const { max_bytes, ...rest } = opts
    return { ...super.parseOptions(rest, refilling), max_bytes }
  }
}

export function pullsFrom(c: Consumer): Pull {
  return async (o) => {
    // as the library's fetch() does, with both bounds
    const it = new BoundedPull(c, { max_messages: PULL_MESSAGES, max_bytes: o.maxBytes, expires: o.expiresMs }, false)
    // The server ends the pull (409 when bytes run out, or its expiry). A client timer just past
    // the expiry (what fetch() does, 1.05 x) can drop messages the server sent before its expiry
    // and a busy event loop has not read yet, which a later acknowledgement of all before it
    // would take as done; so the timer waits 2 s more. (Relying on the server alone stalled
    // pulls for long where no end came after a partial delivery.)
    const timer = timeout(it.opts.expires + 2_000)
    it.closed()
      .catch(() => {})
      .finally(() => timer.cancel())
    timer.catch(() => void it.close().catch(() => {}))
    it.trackTimeout(timer)
    return {
      stop: () => it.stop(),
      async *[Symbol.asyncIterator]() {
        let n = 0
        for await (const m of it) {
          yield m
          if (++n >= PULL_MESSAGES) {
            it.stop()
            return
          }
        }
      },
    }
  }
}

/** What one pull asks for: a few megabytes (well under what a server lets wait for one client
 *  before it cuts it off, 64 MB by default), and at least twice the largest message the server
 *  accepts (a pull smaller than a message never gets it). */
export function pullBytes(maxPayload: number | undefined): number {
  return Math.max(8 * 1024 * 1024, 2 * (maxPayload ?? 1024 * 1024))
}
const PULL_EXPIRES_MS = 5_000

export type FeedOptions = {
  batchMessages: number
  batchBytes?: number
  batchWaitMs: number
  applied: () => number
  log: Logger
  /** pull while fewer bytes than this wait (default 2 batches' bytes, at least 64 MiB) */
  bufferBytes?: number
  pullBytes?: number
  /** a consumer opened anew to deliver from stream sequence `from` (after a gap in deliveries) */
  reopen?: (from: number) => Promise<Pull>
}

/**
 * A stage's feed from a durable AckAll consumer on `stream`, created anew to start right after
 * the stage's applied position. Our progress record, not the consumer's ack floor, says where to
 * resume: under AckAll, a consumer kept across a restart would hand out new messages before
 * redelivering the unacknowledged ones, and acknowledging those new messages would acknowledge
 * the old ones unprocessed.
 */
export async function consumerFeed(
  nc: NatsConnection,
  o: { stream: string; consumer: string; config: Partial<ConsumerConfig>; pulls?: (c: Consumer) => Pull } & Omit<FeedOptions, 'reopen' | 'pullBytes'>,
): Promise<BatchFeed> {
  const { stream, consumer, config, pulls = pullsFrom, ...feed } = o
  const open = async (from: number): Promise<Pull> => {
    const jsm = await nc.jetstreamManager()
    try {
      await jsm.consumers.delete(stream, consumer)
    } catch (err) {
      if (!String((err as Error).message).includes('not found')) throw err
    }
    await jsm.consumers.add(stream, {
      ...config,
      durable_name: consumer,
      ack_policy: AckPolicy.All,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: from,
      max_deliver: -1,
    })
    return pulls(await nc.jetstream().consumers.get(stream, consumer))
  }
  return new BatchFeed(await open(o.applied() + 1), { ...feed, pullBytes: pullBytes(nc.info?.max_payload), reopen: open })
}

export class BatchFeed {
  #buffer: JsMsg[] = []
  /** bytes of the buffered messages */
  #bytes = 0
  #lastBuffered = 0
  #wake: (() => void) | undefined
  /** wakes the pulling loop when a batch was taken (room in the buffer) or on close */
  #drained: (() => void) | undefined
  #stopping = false
  #closed = false
  #current: { stop(): void } | undefined
  /** the delivery number of the last message read */
  #lastDelivery = 0
  /** a gap in deliveries was seen: nothing more is taken until the consumer is opened again */
  #gap = false
  /** the last sequence of a pending range being waited for: pulled whatever the buffer bound */
  #need = 0
  /** which opening of the consumer the pulls come from (messages of an older one are ignored) */
  #generation = 0
  /** gaps in deliveries seen (each one reopened the consumer) */
  gaps = 0
  /** the pulling loop: its end (a failed pull is logged and retried) */
  readonly filled: Promise<void>

  constructor(
    private pull: Pull,
    private readonly o: FeedOptions,
  ) {
    this.filled = this.#fill()
  }

  /** No more batches: a wait in next() ends now. */
  stop(): void {
    this.#stopping = true
    this.#wake?.()
  }

  /** Stop pulling (once the batch in hand is through). */
  close(): void {
    this.#closed = true
    this.#current?.stop()
    this.#drained?.()
  }

  async #fill() {
    const limit = this.o.bufferBytes ?? Math.max(64 * 1024 * 1024, 2 * (this.o.batchBytes ?? 0))
    while (!this.#closed) {
      if (this.#gap || (this.#bytes >= limit && this.#need <= this.#lastBuffered)) {
        await new Promise<void>((r) => (this.#drained = r))
        this.#drained = undefined
        continue
      }
      try {
        const gen = this.#generation
        const it = await this.pull({ maxBytes: this.o.pullBytes ?? pullBytes(undefined), expiresMs: PULL_EXPIRES_MS })
        this.#current = it
        if (this.#closed || this.#gap || gen !== this.#generation) it.stop()
        for await (const m of it) this.#add(m, gen)
      } catch (err) {
        if (this.#closed) break
        this.o.log.warn({ err }, 'pull from the consumer failed; retrying')
        await new Promise((r) => setTimeout(r, 500))
      } finally {
        this.#current = undefined
      }
    }
  }

  #add(m: JsMsg, gen: number) {
    if (this.#gap || gen !== this.#generation) return
    const d = m.info?.deliverySequence
    if (d !== undefined) {
      if (this.#lastDelivery > 0 && d !== this.#lastDelivery + 1) {
        this.#sawGap(d, m.seq)
        return
      }
      this.#lastDelivery = d
    }
    if (m.seq <= this.o.applied()) {
      m.ack()
      return
    }
    if (m.seq <= this.#lastBuffered) return
    this.#lastBuffered = m.seq
    this.#buffer.push(m)
    this.#bytes += m.data.length
    if (this.#buffer.length === 1 || this.#full()) this.#wake?.()
  }

  #sawGap(delivery: number, seq: number) {
    this.gaps++
    this.o.log.warn(
      { expected: this.#lastDelivery + 1, got: delivery, seq, reopen: !!this.o.reopen },
      'messages the consumer sent were never read; dropping what is buffered and opening the consumer again after the applied position',
    )
    this.#gap = true
    this.#current?.stop()
    this.#buffer = []
    this.#bytes = 0
    this.#wake?.()
  }

  /** After a gap: the consumer opened again right after the applied position (retried until it
   *  is, or the feed stops). Only called once the batches handed out are through. */
  async #reopen(): Promise<void> {
    for (;;) {
      if (this.#stopping) return
      try {
        if (!this.o.reopen) throw new Error('a gap in deliveries and no way to open the consumer again')
        const from = this.o.applied() + 1
        this.pull = await this.o.reopen(from)
        this.#generation++
        this.#current?.stop() // a pull begun on the old consumer
        // the buffer was emptied at the gap, and nothing is added to it while there is one
        this.#lastBuffered = from - 1
        this.#lastDelivery = 0
        this.#gap = false
        this.#drained?.()
        return
      } catch (err) {
        this.o.log.error({ err }, 'opening the consumer again failed; retrying')
        await new Promise((r) => setTimeout(r, 1000))
      }
    }
  }

  #full(): boolean {
    return this.#buffer.length >= this.o.batchMessages || this.#bytes >= (this.o.batchBytes ?? Infinity)
  }

  /** Take the first `n` buffered messages. */
  #take(n: number): JsMsg[] {
    const out = this.#buffer.splice(0, n)
    for (const m of out) this.#bytes -= m.data.length
    this.#drained?.()
    return out
  }

  /** Sleep up to `ms`, or until a message (or stop) wakes us. */
  #wait(ms: number): Promise<void> {
    return new Promise((r) => {
      const done = () => {
        clearTimeout(t)
        this.#wake = undefined
        r()
      }
      const t = setTimeout(done, ms)
      this.#wake = done
    })
  }

  /** The next batch; the pending range's messages whole when one is given; undefined once
   *  stopping. `settled`: the stage's work on the batches handed out before (default: already
   *  through); after a gap the consumer is opened again only once it is, so no batch of the old
   *  consumer is left to acknowledge. */
  async next(pending?: { first: number; last: number }, settled?: Promise<unknown>): Promise<{ batch: JsMsg[]; pendingDone: boolean } | undefined> {
    // stopping: no new batch, whatever is buffered (a backlog would otherwise keep the stage going)
    for (;;) {
      if (this.#stopping) return undefined
      if (this.#gap) {
        await settled
        await this.#reopen()
      } else if (this.#buffer.length === 0) await this.#wait(1000)
      else break
    }
    if (pending) {
      const { first, last } = pending
      if (this.#buffer[0]!.seq > last) {
        this.o.log.warn({ first, last }, 'pending batch was acknowledged before the stop; nothing to redo')
        return { batch: [], pendingDone: true }
      }
      this.#need = last
      this.#drained?.()
      while ((this.#buffer.at(-1)?.seq ?? last) < last && !this.#stopping && !this.#gap) await this.#wait(20)
      this.#need = 0
      if (this.#stopping) return undefined
      if (this.#gap || this.#buffer.length === 0) return this.next(pending, settled)
      const n = this.#buffer.findIndex((m) => m.seq > last)
      return { batch: this.#take(n < 0 ? this.#buffer.length : n), pendingDone: false }
    }
    const started = Date.now()
    while (!this.#full() && Date.now() - started < this.o.batchWaitMs && !this.#stopping && !this.#gap) {
      await this.#wait(this.o.batchWaitMs - (Date.now() - started))
    }
    if (this.#gap || this.#buffer.length === 0) return this.next(pending, settled)
    let n = 0
    let bytes = 0
    const maxBytes = this.o.batchBytes ?? Infinity
    while (n < this.#buffer.length && n < this.o.batchMessages && (n === 0 || bytes + this.#buffer[n]!.data.length <= maxBytes))
      bytes += this.#buffer[n++]!.data.length
    return { batch: this.#take(n), pendingDone: false }
  }
}
