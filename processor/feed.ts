/**
 * Batches from a JetStream pull consumer, for a stage that applies them in order: the
 * messages the consumer delivers, buffered, handed out as a batch of up to `batchMessages`
 * messages or `batchBytes` bytes (whichever comes first; at least one message) once that much
 * is there or `batchWaitMs` has passed since the first. Bytes bound a batch of many-event
 * click messages; the count, one of single-event conversion messages. A range recorded as
 * pending (a batch in flight when the stage stopped) is handed out again with exactly its
 * boundaries. A message at or below the applied position (processed before a crash between
 * saving progress and the ack) is acknowledged and dropped; a redelivery of what is buffered
 * is dropped.
 */
import type { ConsumerMessages, JsMsg } from 'nats'
import type { Logger } from '../common/log.js'

export class BatchFeed {
  #buffer: JsMsg[] = []
  /** bytes of the buffered messages */
  #bytes = 0
  #lastBuffered = 0
  #wake: (() => void) | undefined
  #stopping = false

  constructor(
    private readonly iter: ConsumerMessages,
    private readonly o: { batchMessages: number; batchBytes?: number; batchWaitMs: number; applied: () => number; log: Logger },
  ) {
    void this.#fill()
  }

  /** No more batches: a wait in next() ends now. */
  stop(): void {
    this.#stopping = true
    this.#wake?.()
  }

  /** Stop the consumer's deliveries (once the batch in hand is through). */
  close(): void {
    this.iter.stop()
  }

  async #fill() {
    for await (const m of this.iter) {
      if (m.seq <= this.o.applied()) {
        m.ack()
        continue
      }
      if (m.seq <= this.#lastBuffered) continue
      this.#lastBuffered = m.seq
      this.#buffer.push(m)
      this.#bytes += m.data.length
      if (this.#buffer.length === 1 || this.#full()) this.#wake?.()
    }
  }

  #full(): boolean {
    return this.#buffer.length >= this.o.batchMessages || this.#bytes >= (this.o.batchBytes ?? Infinity)
  }

  /** Take the first `n` buffered messages. */
  #take(n: number): JsMsg[] {
    const out = this.#buffer.splice(0, n)
    for (const m of out) this.#bytes -= m.data.length
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

  /** The next batch; the pending range's messages whole when one is given; undefined once stopping. */
  async next(pending?: { first: number; last: number }): Promise<{ batch: JsMsg[]; pendingDone: boolean } | undefined> {
    while (this.#buffer.length === 0) {
      if (this.#stopping) return undefined
      await this.#wait(1000)
    }
    if (pending) {
      const { first, last } = pending
      if (this.#buffer[0]!.seq > last) {
        this.o.log.warn({ first, last }, 'pending batch was acknowledged before the stop; nothing to redo')
        return { batch: [], pendingDone: true }
      }
      while (this.#buffer.at(-1)!.seq < last && !this.#stopping) await this.#wait(20)
      if (this.#stopping) return undefined
      const n = this.#buffer.findIndex((m) => m.seq > last)
      return { batch: this.#take(n < 0 ? this.#buffer.length : n), pendingDone: false }
    }
    const started = Date.now()
    while (!this.#full() && Date.now() - started < this.o.batchWaitMs && !this.#stopping) {
      await this.#wait(this.o.batchWaitMs - (Date.now() - started))
    }
    let n = 0
    let bytes = 0
    const maxBytes = this.o.batchBytes ?? Infinity
    while (n < this.#buffer.length && n < this.o.batchMessages && (n === 0 || bytes + this.#buffer[n]!.data.length <= maxBytes)) bytes += this.#buffer[n++]!.data.length
    return { batch: this.#take(n), pendingDone: false }
  }
}
