/**
 * The notifier works the DELIVERIES queue: outbound postbacks to affiliates' endpoints,
 * retried with exponential backoff, every try logged, a dead letter after the last.
 * Its own tier folder: it meets the processor and the query-api only through the queue
 * and the attempt log. The launcher starts it beside the processor (same process, same
 * ClickHouse: with chDB the attempt log must live where the query-api reads it).
 */
import { createHash } from 'node:crypto'
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { isIP } from 'node:net'
import { isPrivateAddress } from '../common/ipallow.js'
import { AckPolicy, type Consumer, type JsMsg, type NatsConnection } from 'nats'
import type { ClickHouseClient } from '../clickhouse/client.js'
import { insertFormatted } from '../clickhouse/client.js'
import type { Logger } from '../common/log.js'
import { sleep } from '../common/nats.js'
import { DELIVERY_STREAM, dlqSubject } from '../common/subjects.js'
import { chTime } from '../common/chtime.js'
import { backoffMs, type Delivery } from '../common/outbound.js'

export type NotifierOptions = { maxAttempts: number; retryBaseMs: number; timeoutMs: number; allowPrivate: boolean; concurrency?: number }
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
      status = await httpGet(d.url, this.opts.timeoutMs, this.opts.allowPrivate, { 'user-agent': 'affiliate-platform-postback/1', 'x-delivery-id': d.id })
      if (status < 200 || status > 299) error = `HTTP ${status}`
    } catch (err) {
      error = (err as Error).message
    }
    const ms = Math.round(performance.now() - t0)
    this.stats.attempts++
    if (!error) {
      this.stats.delivered++
      return { row: this.#row(d, attempt, status, '', ms, 'delivered'), settle: async () => void (await m.ackAck()) }
    }
    if (d.test) {
      // A test-fire gets one try and no dead letter: it tells the affiliate what its tracker
      // answered, and must not keep knocking on a tracker that said no.
      this.stats.dead++
      return { row: this.#row(d, attempt, status, error, ms, 'dead'), settle: async () => void (await m.ackAck()) }
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

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void

/** DNS lookup that refuses private answers: checked on the address the socket connects to,
 *  so a name that resolves (or rebinds) to an inside address is never reached. */
function guardedLookup(hostname: string, options: LookupOptions, callback: LookupCallback) {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, [])
    const bad = addresses.find((a) => isPrivateAddress(a.address))
    if (bad) return callback(Object.assign(new Error(`${hostname} resolves to a private address (${bad.address})`), { code: 'EPRIVATE' }), [])
    if (options.all) return callback(null, addresses)
    callback(null, addresses[0]!.address, addresses[0]!.family)
  })
}

/** One GET; resolves with the status code. No redirects are followed. */
export function httpGet(url: string, timeoutMs: number, allowPrivate: boolean, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(url)
    const host = u.hostname.replace(/^\[|\]$/g, '')
    if (!allowPrivate && isIP(host) !== 0 && isPrivateAddress(host)) return reject(new Error(`${host} is a private address`))
    const send = u.protocol === 'https:' ? httpsRequest : httpRequest
    const req = send(u, { method: 'GET', headers, ...(allowPrivate ? {} : { lookup: guardedLookup as never }) }, (res: IncomingMessage) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
      res.on('error', reject)
    })
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
    req.on('close', () => clearTimeout(timer))
    req.on('error', (err: NodeJS.ErrnoException) => reject(new Error(err.code === 'EPRIVATE' || !err.code ? err.message : `${err.code}: ${err.message}`)))
    req.end()
  })
}
