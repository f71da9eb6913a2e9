/**
 * Batches from a JetStream pull consumer, for a stage that applies them in order: the
 * messages the consumer delivers, buffered, handed out as a batch of up to `batchMessages`
 * once that many are there or `batchWaitMs` has passed since the first. A range recorded as
 * pending (a batch in flight when the stage stopped) is handed out again with exactly its
 * boundaries. A message at or below the applied position (processed before a crash between
 * saving progress and the ack) is acknowledged and dropped; a redelivery of what is buffered
 * is dropped.
 */
import type { ConsumerMessages, JsMsg } from 'nats'
import type { Logger } from '../common/log.js'

export class BatchFeed {
  #buffer: JsMsg[] = []
  #lastBuffered = 0
  #wake: (() => void) | undefined
  #stopping = false

  constructor(
    private readonly iter: ConsumerMessages,
    private readonly o: { batchMessages: number; batchWaitMs: number; applied: () => number; log: Logger },
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
      if (this.#buffer.length === 1 || this.#buffer.length >= this.o.batchMessages) this.#wake?.()
    }
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
      return { batch: this.#buffer.splice(0, n < 0 ? this.#buffer.length : n), pendingDone: false }
    }
    const started = Date.now()
    while (this.#buffer.length < this.o.batchMessages && Date.now() - started < this.o.batchWaitMs && !this.#stopping) {
      await this.#wait(this.o.batchWaitMs - (Date.now() - started))
    }
    return { batch: this.#buffer.splice(0, this.o.batchMessages), pendingDone: false }
  }
}
