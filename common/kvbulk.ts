/**
 * Many reads or writes of one KV bucket at once, for the processor's state stores. The
 * library's `kv.get` and `kv.put` are a request each (an inbox entry, a timer and a promise per
 * key, and for a key not there an error object with its stack): about 45 µs of the event loop
 * per key here, the largest cost of a conversion. These send the same requests (a direct get of
 * the key's last value, a publish to the key's subject answered by its stream's acknowledgement)
 * with replies to one subscription, and wait for all of them under one timer.
 *
 * The bucket must allow direct gets (buckets made by the library on a server that has them do).
 */
import { createInbox, Empty, type Msg, type NatsConnection, type Subscription } from 'nats'

const dec = new TextDecoder()
/** what the library accepts as a key (its own check) */
const VALID_KEY = /^[-/=.\w]+$/

export class KvBulk {
  readonly #inbox = createInbox()
  readonly #waiting = new Map<string, (m: Msg) => void>()
  #n = 0
  #sub: Subscription | undefined

  constructor(
    private readonly nc: NatsConnection,
    readonly bucket: string,
    private readonly timeoutMs = 30_000,
  ) {}

  /** The last value of each key, in order; null for a key never written or deleted. */
  async getMany(keys: readonly string[]): Promise<(Uint8Array | null)[]> {
    const out: (Uint8Array | null)[] = new Array(keys.length).fill(null)
    const stream = `$JS.API.DIRECT.GET.KV_${this.bucket}.$KV.${this.bucket}.`
    await this.#all(
      keys,
      (k, reply) => this.nc.publish(stream + k, Empty, { reply }),
      (i, m) => {
        const h = m.headers
        if (h?.hasError) {
          if (h.code === 404) return
          throw new Error(`KV ${this.bucket}: reading ${keys[i]} failed: ${h.code} ${h.description}`)
        }
        const op = h?.get('KV-Operation')
        out[i] = op === 'DEL' || op === 'PURGE' ? null : m.data
      },
    )
    return out
  }

  /** Write every entry; resolves once the bucket's stream has stored them all. */
  async putMany(entries: readonly (readonly [string, Uint8Array])[]): Promise<void> {
    const keys = entries.map(([k]) => k)
    await this.#all(
      keys,
      (k, reply, i) => this.nc.publish(`$KV.${this.bucket}.${k}`, entries[i]![1], { reply }),
      (i, m) => {
        if (m.headers?.hasError) throw new Error(`KV ${this.bucket}: writing ${keys[i]} failed: ${m.headers.code} ${m.headers.description}`)
        const ack = JSON.parse(dec.decode(m.data)) as { error?: { description?: string; code?: number } }
        if (ack.error) throw new Error(`KV ${this.bucket}: writing ${keys[i]} failed: ${ack.error.code ?? ''} ${ack.error.description ?? ''}`)
      },
    )
  }

  /** One request per key, every answer through `answer`; rejects at the first answer that
   *  throws, or when answers are still missing after the timeout. */
  async #all(keys: readonly string[], send: (key: string, reply: string, i: number) => void, answer: (i: number, m: Msg) => void): Promise<void> {
    if (keys.length === 0) return
    for (const k of keys) if (!VALID_KEY.test(k) || k.startsWith('.') || k.endsWith('.')) throw new Error(`KV ${this.bucket}: invalid key ${JSON.stringify(k)}`)
    this.#sub ??= this.nc.subscribe(`${this.#inbox}.*`, {
      callback: (err, m) => {
        if (err) return
        const f = this.#waiting.get(m.subject)
        if (f) {
          this.#waiting.delete(m.subject)
          f(m)
        }
      },
    })
    const replies: string[] = []
    const forget = () => {
      for (const r of replies) this.#waiting.delete(r)
    }
    await new Promise<void>((resolve, reject) => {
      let left = keys.length
      let failed = false
      const timer = setTimeout(() => {
        failed = true
        forget()
        reject(new Error(`KV ${this.bucket}: ${left} of ${keys.length} answers missing after ${this.timeoutMs} ms`))
      }, this.timeoutMs)
      keys.forEach((k, i) => {
        const reply = `${this.#inbox}.${++this.#n}`
        replies.push(reply)
        this.#waiting.set(reply, (m) => {
          if (failed) return
          try {
            answer(i, m)
          } catch (err) {
            failed = true
            clearTimeout(timer)
            forget()
            reject(err as Error)
            return
          }
          if (--left === 0) {
            clearTimeout(timer)
            resolve()
          }
        })
        send(k, reply, i)
      })
    })
  }
}
