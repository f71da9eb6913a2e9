/**
 * Publishes onto JetStream and matches the stream's acknowledgements on one inbox
 * subscription. This is what `js.publish()` does, without its per-publish request object,
 * error context (a captured stack) and timer: on the click path those cost more CPU and
 * garbage than the publish itself. Timeouts are found by one sweep over the pending
 * publishes, oldest first.
 */
import { createInbox, headers, type Msg, type NatsConnection, type NatsError, type PubAck, type Subscription } from 'nats'

export class PublishError extends Error {}

type Pending = { resolve: (ack: PubAck) => void; reject: (err: Error) => void; at: number }

export class StreamWriter {
  readonly #prefix = `${createInbox()}.`
  readonly #pending = new Map<number, Pending>()
  readonly #sub: Subscription
  readonly #sweeper: NodeJS.Timeout
  #seq = 0

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs = 5000,
  ) {
    this.#sub = nc.subscribe(`${this.#prefix}*`, { callback: (err, m) => this.#answer(err, m) })
    this.#sweeper = setInterval(() => this.#sweep(Date.now() - timeoutMs), Math.min(250, timeoutMs)).unref()
  }

  get pending(): number {
    return this.#pending.size
  }

  /** Store `data` on `subject` under `msgId` (the stream drops a repeat within its window). */
  publish(subject: string, data: Uint8Array, msgId: string): Promise<PubAck> {
    const n = ++this.#seq
    const h = headers()
    h.set('Nats-Msg-Id', msgId)
    return new Promise<PubAck>((resolve, reject) => {
      this.#pending.set(n, { resolve, reject, at: Date.now() })
      try {
        this.nc.publish(subject, data, { reply: this.#prefix + n, headers: h })
      } catch (err) {
        this.#pending.delete(n)
        reject(err as Error)
      }
    })
  }

  #answer(err: NatsError | null, m: Msg) {
    if (err) return // the subscription itself failed (closed connection): pending publishes time out
    const n = Number(m.subject.slice(this.#prefix.length))
    const p = this.#pending.get(n)
    if (!p) return // answered after its timeout: the retry under the same msgId settles it
    this.#pending.delete(n)
    if (m.headers?.hasError) return p.reject(new PublishError(`stream did not store the message: ${m.headers.code} ${m.headers.description}`))
    let body: { stream?: string; seq?: number; duplicate?: boolean; domain?: string; error?: { code?: number; description?: string } }
    try {
      body = m.json()
    } catch {
      return p.reject(new PublishError('unreadable acknowledgement from the stream'))
    }
    if (body.error) return p.reject(new PublishError(`stream refused the message: ${body.error.code ?? ''} ${body.error.description ?? ''}`.trim()))
    if (!body.stream || typeof body.seq !== 'number') return p.reject(new PublishError('acknowledgement without a stream sequence'))
    p.resolve({ stream: body.stream, seq: body.seq, duplicate: body.duplicate === true, domain: body.domain } as PubAck)
  }

  #sweep(cutoff: number) {
    // A Map iterates in insertion order: the oldest publishes come first.
    for (const [n, p] of this.#pending) {
      if (p.at > cutoff) break
      this.#pending.delete(n)
      p.reject(new PublishError(`no acknowledgement from the stream within ${this.timeoutMs} ms`))
    }
  }

  close() {
    clearInterval(this.#sweeper)
    this.#sub.unsubscribe()
    this.#sweep(Infinity)
  }
}
