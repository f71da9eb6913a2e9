/**
 * The live program view: a snapshot from the rollups, then deltas over /ws applied as they
 * come. A delta whose batch range the snapshot already includes (to ≤ asOf) is dropped, so
 * nothing is counted twice; deltas that arrive before the snapshot wait for it.
 */
import { api, credential, type Counters, type Delta, type Principal, type Summary } from './api'
import { addMoney } from './money'
import type { LiveFinding, LiveFindings } from '../../../common/live.js'

const WINDOW_MIN = 30
const FEED_MAX = 300
const empty = (): Counters => ({ clicks: 0, registrations: 0, ftds: 0, unattributed: 0, commission: {} })

function add(into: Counters, r: Counters) {
  into.clicks += r.clicks
  into.registrations += r.registrations
  into.ftds += r.ftds
  into.unattributed += r.unattributed
  addMoney(into.commission, r.commission)
}

export class LiveState {
  totals = $state<Counters>(empty())
  byAffiliate = $state<Record<number, Counters>>({})
  byMinute = $state<Record<number, Counters>>({})
  names = $state<Record<number, string>>({})
  principal = $state<Principal | null>(null)
  connected = $state(false)
  lastDeltaAt = $state<number | null>(null)
  error = $state<string | null>(null)
  since = $state<number>(Date.now())
  /** what the fraud rules found since the page opened, newest first (the fraud view's feed) */
  findings = $state<(LiveFinding & { seenAt: number })[]>([])
  /** findings received, and when the last came */
  findingsSeen = $state(0)
  lastFindingAt = $state<number | null>(null)
  #fraudTo: Record<string, number> = {}

  #asOf: Record<string, number> = {}
  #early: Delta[] = []
  #snapshotLoaded = false
  #ws: WebSocket | null = null
  #stopped = false
  #retry = 500

  async start() {
    this.#stopped = false
    this.#connect()
    await this.#snapshot()
  }

  stop() {
    this.#stopped = true
    this.#ws?.close()
  }

  async #snapshot() {
    this.#snapshotLoaded = false
    this.since = Date.now() - 24 * 3600_000
    const s = await api<Summary>(`/api/reports/summary?from=${new Date(this.since).toISOString()}`)
    const aff = await api<{ items: { id: number; name: string }[] }>('/api/affiliates?limit=1000')
    this.names = Object.fromEntries(aff.items.map((a) => [a.id, a.name]))
    this.#asOf = { ...s.asOf }
    this.totals = s.totals
    this.byAffiliate = Object.fromEntries(s.byAffiliate.map((r) => [r.affiliateId, r]))
    this.byMinute = Object.fromEntries(s.byMinute.map((r) => [r.minute, r]))
    this.#snapshotLoaded = true
    for (const d of this.#early.splice(0)) this.apply(d)
  }

  #connect() {
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`)
    this.#ws = ws
    ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', token: credential.get() }))
    ws.onmessage = (ev) => {
      const msg = JSON.parse(String(ev.data))
      if (msg.type === 'hello') {
        this.principal = msg.principal
        this.connected = true
        this.#retry = 500
      } else if (msg.type === 'delta') {
        if (this.#snapshotLoaded) this.apply(msg as Delta)
        else this.#early.push(msg as Delta)
      } else if (msg.type === 'fraud') this.addFindings(msg as LiveFindings)
      else if (msg.type === 'error') this.error = msg.reason
    }
    ws.onclose = () => {
      this.connected = false
      if (this.#stopped) return
      // Deltas sent while we were away are lost to us: reconnect, then take a new snapshot.
      setTimeout(() => {
        this.#connect()
        void this.#snapshot().catch((e) => (this.error = String(e.message ?? e)))
      }, this.#retry)
      this.#retry = Math.min(this.#retry * 2, 10_000)
    }
  }

  apply(d: Delta) {
    if (d.to <= (this.#asOf[d.consumer] ?? 0)) return
    this.#asOf[d.consumer] = d.to
    for (const r of d.rows) {
      add(this.totals, r)
      add((this.byAffiliate[r.affiliateId] ??= { affiliateId: r.affiliateId, ...empty() } as Counters), r)
      add((this.byMinute[r.minute] ??= { minute: r.minute, ...empty() } as Counters), r)
    }
    this.lastDeltaAt = Date.now()
  }

  addFindings(f: LiveFindings) {
    if (f.to <= (this.#fraudTo[f.consumer] ?? 0)) return
    this.#fraudTo[f.consumer] = f.to
    const at = Date.now()
    this.findings = [...f.findings.map((x) => ({ ...x, seenAt: at })).reverse(), ...this.findings].slice(0, FEED_MAX)
    this.findingsSeen += f.findings.length
    this.lastFindingAt = at
  }

  /** The last WINDOW_MIN minutes, oldest first, with empty minutes filled in. */
  minutes(now: number): (Counters & { minute: number })[] {
    const end = now - (now % 60_000)
    return Array.from({ length: WINDOW_MIN }, (_, i) => {
      const m = end - (WINDOW_MIN - 1 - i) * 60_000
      return { minute: m, ...(this.byMinute[m] ?? empty()) }
    })
  }
}
