/**
 * Live deltas to WebSocket clients. The hub subscribes to the processors' deltas, drops a
 * batch range it has already seen (a batch redone after a crash), and pushes each client
 * only the rows it may see: an affiliate gets its own rows, nothing else.
 *
 * Protocol (JSON text frames):
 *   client → {"type":"auth","token":"…"}                 first frame, within 5 s
 *   server → {"v":1,"type":"hello","principal":{…}}
 *   server → {"v":1,"type":"delta","consumer","from","to","rows":[…]}
 * (common/live.ts has the message union.)
 */
import type { NatsConnection, Subscription } from 'nats'
import type { WebSocket } from 'ws'
import type { Logger } from '../common/log.js'
import { LIVE_DELTA_SUBJECT, LIVE_FRAUD_SUBJECT } from '../common/subjects.js'
import { serverMessage, type ClientMessage, type LiveDelta, type LiveFindings } from '../common/live.js'
import type { Auth, Principal } from './auth.js'

type Client = { ws: WebSocket; principal: Principal }

export class LiveHub {
  readonly #clients = new Set<Client>()
  readonly #lastTo = new Map<string, number>()
  readonly #lastFraudTo = new Map<string, number>()
  #sub: Subscription | undefined
  #fraudSub: Subscription | undefined
  delivered = 0

  constructor(
    private readonly auth: Auth,
    private readonly log: Logger,
  ) {}

  start(nc: NatsConnection, initial: Record<string, number>) {
    for (const [c, to] of Object.entries(initial)) this.#lastTo.set(c, to)
    this.#sub = nc.subscribe(LIVE_DELTA_SUBJECT)
    void (async () => {
      for await (const m of this.#sub!) {
        try {
          this.publish(JSON.parse(m.string()) as LiveDelta)
        } catch (err) {
          this.log.error({ err }, 'unreadable live delta')
        }
      }
    })()
    this.#fraudSub = nc.subscribe(LIVE_FRAUD_SUBJECT)
    void (async () => {
      for await (const m of this.#fraudSub!) {
        try {
          this.publishFindings(JSON.parse(m.string()) as LiveFindings)
        } catch (err) {
          this.log.error({ err }, 'unreadable live findings')
        }
      }
    })()
  }

  /** What the fraud rules found in a batch: every finding to the operators, an affiliate's own
   *  to it (but a rule's in shadow mode: the fraud team's trial, acting on nothing). */
  publishFindings(f: LiveFindings) {
    if (f.to <= (this.#lastFraudTo.get(f.consumer) ?? 0)) return
    this.#lastFraudTo.set(f.consumer, f.to)
    let all: string | undefined
    for (const c of this.#clients) {
      if (c.ws.readyState !== c.ws.OPEN) continue
      if (c.principal.kind === 'operator') {
        all ??= JSON.stringify(serverMessage({ type: 'fraud', ...f }))
        c.ws.send(all)
      } else if (this.auth.allowed(c.principal)) {
        const id = c.principal.affiliateId
        const findings = f.findings.filter((x) => x.affiliateId === id && !x.shadow)
        if (findings.length > 0) c.ws.send(JSON.stringify(serverMessage({ type: 'fraud', ...f, findings })))
      }
    }
  }

  publish(d: LiveDelta) {
    if (d.to <= (this.#lastTo.get(d.consumer) ?? 0)) return
    this.#lastTo.set(d.consumer, d.to)
    let all: string | undefined
    for (const c of this.#clients) {
      if (c.ws.readyState !== c.ws.OPEN) continue
      if (c.principal.kind === 'operator') {
        all ??= JSON.stringify(serverMessage({ type: 'delta', ...d }))
        c.ws.send(all)
      } else {
        if (!this.auth.allowed(c.principal)) {
          c.ws.close(4403, 'affiliate suspended')
          continue
        }
        const id = c.principal.affiliateId
        const rows = d.rows.filter((r) => r.affiliateId === id)
        if (rows.length > 0) c.ws.send(JSON.stringify(serverMessage({ type: 'delta', ...d, rows })))
      }
      this.delivered++
    }
  }

  accept(ws: WebSocket) {
    let client: Client | undefined
    const timer = setTimeout(() => {
      if (!client) ws.close(4401, 'auth required')
    }, 5000)
    ws.on('message', (raw) => {
      if (client) return // the server does not take commands yet
      let token: unknown
      try {
        token = (JSON.parse(String(raw)) as Partial<ClientMessage>).token
      } catch {
        token = undefined
      }
      const p = typeof token === 'string' ? this.auth.resolve(token, Date.now()) : undefined
      if (!p) {
        ws.send(JSON.stringify(serverMessage({ type: 'error', error: 'unauthorized', reason: 'send {"type":"auth","token":"…"} with a valid credential' })))
        ws.close(4401, 'unauthorized')
        return
      }
      clearTimeout(timer)
      client = { ws, principal: p }
      this.#clients.add(client)
      ws.send(JSON.stringify(serverMessage({ type: 'hello', principal: p })))
    })
    ws.on('close', () => {
      clearTimeout(timer)
      if (client) this.#clients.delete(client)
    })
  }

  get clients(): number {
    return this.#clients.size
  }

  stop() {
    this.#sub?.unsubscribe()
    this.#fraudSub?.unsubscribe()
    for (const c of this.#clients) c.ws.close(1001, 'server shutting down')
    this.#clients.clear()
  }
}
