/**
 * The processor's main thread: it owns all I/O. Per batch, in this order:
 *
 *   1. load the players' states and compute on worker threads (KV; piscina, pure)
 *   2. record the batch's stream range as pending        (KV)  — a crash redoes exactly it
 *   3. insert rows, tokens derived from the range        (ClickHouse, idempotent):
 *      events, player facts, then the batch's marker row
 *   4. dead letters, with the reason                      (DEADLETTER stream)
 *      outbound postbacks to deliver                      (DELIVERIES stream)
 *      accrual facts for the affiliate stage              (ACCRUALS stream, ids from the range)
 *   5. publish the live delta, tagged with the range      (NATS)
 *   6. save player states, then progress = applied        (KV)
 *   7. ack the last message (AckAll acks the batch)       (JetStream)
 *
 * Step 1 of a batch runs while steps 2–7 of the one before it do (see #run); nothing of it is
 * written before that one is through.
 *
 * A crash anywhere ends, after restart, in the totals of a run without it: a pending range
 * is redone with the same boundaries, so ClickHouse drops the repeated inserts by token; a
 * player state already saved recognises its events by stream position; readers drop a
 * delta whose range they have seen.
 *
 * A batch that throws (a bug in a rule, ClickHouse or NATS unavailable) is not acknowledged:
 * the step that threw (computing it, or writing it, with the same computed batch) is tried
 * again with exponential backoff, capped, and the failure (message, tries, since when) shows in
 * `stats.failure` until a try succeeds (processor/retry.ts).
 */
import { DeliverPolicy, nanos, type JsMsg, type KV, type NatsConnection } from 'nats'
import { consumerFeed, type BatchFeed } from './feed.js'
import type { ClickHouseClient } from '../clickhouse/client.js'
import { insertFormatted, queryRows } from '../clickhouse/client.js'
import {
  asDeal,
  isCpaDeal,
  windowVersions,
  type Affiliate,
  type CpaDeal,
  type Endpoint,
  type Offer,
  type StoredDeal,
  type StoredFxRate,
  type WatchedBucket,
  type WindowVersion,
} from '../common/entities.js'
import { fnv1a } from '../common/keys.js'
import { compareFacts, type AdjustFact, type CloseFact, type ReviewFact, type StageFact } from './domain/commission/accrual.js'
import {
  AdjustmentCommandSchema,
  closeIdOf,
  CloseCommandSchema,
  ReviewCommandSchema,
  type AdjustmentCommand,
  type CloseCommand,
  type ReviewCommand,
} from '../common/close.js'
import type { Logger } from '../common/log.js'
import { accrualSubject, deliverySubject, dlqSubject, EVENTS_STREAM, LIVE_DELTA_SUBJECT, LIVE_FRAUD_SUBJECT, parseEventSubject } from '../common/subjects.js'
import { clickSubs } from '../common/clicksubs.js'
import { deliveriesFor, wantsSubs } from '../common/outbound.js'
import { DeltaBuilder, type LiveDelta } from './delta.js'
import { chTime, FACTS_INSERT, stateKeys, type DeadLetterRecord, type MessageRef, type MoneyReference, type TaskInput, type TaskOutput } from './pipeline.js'
import type { BatchFailure } from './results.js'
import { retrying } from './retry.js'
import { EVENT_COLUMNS } from './rows.js'
import type { PlayerStore } from './state.js'
import type { PlayerState } from './domain/players.js'
import { referenceData } from './affiliate-compute.js'
import { ClickWindows, countMessage, floodLimits } from './domain/fraud/click-window.js'
import { fraudSettingsFor, ruleSettings, type FraudRuleSettings, type FraudSettings, type StoredFraudSettings } from '../common/entities/fraud.js'
import type { LiveFindings } from '../common/live.js'
import type { ClickFraudInput, ConversionFraudInput, FindingRecord } from './pipeline.js'
import type { KeyedEvent, KeySets } from './fraud-keys.js'
import { emailHash } from './domain/fraud/self-referral.js'

export type Progress = { applied: number; pending?: { first: number; last: number } }

export type ProcessorStats = {
  batches: number
  events: number
  deadLetters: number
  /** outbound postback deliveries queued */
  deliveriesQueued: number
  /** accrual facts published to the affiliate stage */
  accruals: number
  applied: number
  lastBatchMs: number
  retries: number
  /** gaps seen in the consumer's deliveries (each one opened the consumer again; see feed.ts) */
  gaps: number
  /** the batch failing right now, if one is; cleared when it goes through */
  failure: BatchFailure | null
  /** result counts per step and reason (`step.reason`), summed over batches */
  counts: Record<string, number>
  /** cumulative wall time per step of the batch, ms; `compute` is summed over workers */
  stepMs: Record<'progress' | 'load' | 'compute' | 'clickhouse' | 'publish' | 'state' | 'ack', number>
}

export type ProcessorDeps = {
  nc: NatsConnection
  ch: ClickHouseClient
  /** where tasks are computed: the piscina pool of processor/worker.ts (tests may compute in-process) */
  pool: { run(task: TaskInput): Promise<TaskOutput> }
  players: PlayerStore
  deals: WatchedBucket<StoredDeal>
  /** offers: their attribution window versions (days) override the default */
  offers?: WatchedBucket<Offer>
  /** affiliates' outbound postback endpoints; without them no deliveries are queued */
  endpoints?: WatchedBucket<Endpoint>
  /** affiliates (their parents); with them, accrual facts go to the affiliate stage (ACCRUALS) */
  affiliates?: WatchedBucket<Affiliate>
  /** conversion tasks per batch (players spread over them by key; default 1) */
  conversionLanes?: number
  /** the partitions of the ACCRUALS stream (by affiliate) */
  accrualPartitions?: number
  /** FX rates per day */
  fx?: WatchedBucket<StoredFxRate>
  /** the fraud rules' settings (every version); without them the defaults */
  fraud?: WatchedBucket<StoredFraudSettings>
  /** the settings before the first stored change (FRAUD_SETTINGS); default DOMAIN's */
  fraudBase?: FraudSettings
  /** false: no fraud rule is asked (FRAUD_RULES=off; bots are still filtered) */
  fraudRules?: boolean
  /** players per address, device and payment method (the multi-accounting rules); without it they count nothing */
  keySets?: KeySets
  progressKv: KV
  log: Logger
  consumer: string
  filterSubject: string
  batchMessages: number
  /** a batch also closes at this many bytes (a click message holds many events) */
  batchBytes?: number
  batchWaitMs: number
  ackWaitS: number
}

const TASK_BYTES = 256 * 1024
/** how far before the applied message a restart counts clicks again (two minutes of windows and some skew) */
const WARM_MS = 3 * 60_000
const CLICK_SUBJECTS = 'ev.*.click'
/** subjects of control commands, not events: the affiliate stage applies them */
const CONTROL_KINDS = new Set(['close', 'adjust', 'review'])
/** accrual facts per message, at most (well under NATS's default 1 MB payload) */
const ACCRUAL_CHUNK_BYTES = 256 * 1024
const enc = new TextEncoder()
const dec = new TextDecoder()

type Prepared = {
  batch: JsMsg[]
  outs: TaskOutput[]
  changed: TaskOutput['players']
  controls: (CloseFact | AdjustFact | ReviewFact)[]
  badControls: DeadLetterRecord[]
}

export class Processor {
  #applied = 0
  /** clicks per address and device in the last minutes, in stream order (the flood rule's state) */
  readonly #windows = new ClickWindows()
  readonly #emails = new Map<string, string>()
  /** the range pending when the processor started: the first batch, redone whole */
  #resume: Progress['pending']
  #pending: Progress['pending']
  /** a range whose inserts may have been sent (a pending range found at start, or a try that
   *  got as far as ClickHouse): only such a redo needs the per-table check */
  #touched: Progress['pending']
  #stopping = false
  #feed: BatchFeed | undefined
  #loop: Promise<void> = Promise.resolve()
  readonly stats: ProcessorStats = {
    batches: 0,
    events: 0,
    deadLetters: 0,
    deliveriesQueued: 0,
    accruals: 0,
    applied: 0,
    lastBatchMs: 0,
    retries: 0,
    gaps: 0,
    failure: null,
    counts: {},
    stepMs: { progress: 0, load: 0, compute: 0, clickhouse: 0, publish: 0, state: 0, ack: 0 },
  }

  constructor(private readonly d: ProcessorDeps) {}

  async start(): Promise<void> {
    const { nc, consumer } = this.d
    const p = await this.#readProgress()
    this.#applied = p.applied
    this.#pending = p.pending
    this.#resume = p.pending
    this.#touched = p.pending
    this.stats.applied = p.applied
    if (this.d.fraudRules !== false) await this.#warmWindows(p.applied)
    this.#feed = await consumerFeed(nc, {
      stream: EVENTS_STREAM,
      consumer,
      config: { filter_subject: this.d.filterSubject, max_ack_pending: 50_000, ack_wait: nanos(this.d.ackWaitS * 1000) },
      batchMessages: this.d.batchMessages,
      batchBytes: this.d.batchBytes,
      batchWaitMs: this.d.batchWaitMs,
      applied: () => this.#applied,
      log: this.d.log,
    })
    this.#loop = this.#run()
  }

  /** Consumer lag: messages in the stream not yet processed. */
  async lag(): Promise<number> {
    const jsm = await this.d.nc.jetstreamManager()
    const info = await jsm.consumers.info(EVENTS_STREAM, this.d.consumer)
    return info.num_pending + info.num_ack_pending
  }

  get applied(): number {
    return this.#applied
  }

  async stop(): Promise<void> {
    this.#stopping = true
    this.#feed?.stop()
    await this.#loop
    this.#feed?.close()
  }

  /** The next batch: the range pending at start first, whole. `settled` is the write of the
   *  batch before it: the feed opens the consumer again (after a gap) only once that is through. */
  async #nextBatch(settled: Promise<unknown>): Promise<JsMsg[] | undefined> {
    for (;;) {
      const got = await this.#feed!.next(this.#resume, settled)
      this.stats.gaps = this.#feed!.gaps
      if (!got) return undefined
      const resumed = this.#resume
      this.#resume = undefined
      if (got.pendingDone) continue
      if (resumed) this.d.log.warn({ pending: resumed }, 'redoing the batch that was in flight when the processor stopped')
      return got.batch
    }
  }

  /**
   * Two batches at a time: while one is written (ClickHouse, streams, states, acknowledgement),
   * the next is loaded and computed. Computing has no effect outside this process: the next
   * batch sees the players' states the one before it left (held in memory until saved), and
   * nothing of it is written before the batch before it is through, so a crash still leaves at
   * most one range pending.
   */
  async #run() {
    // the write of the batch before: true once through, undefined if stopped first
    let writing: Promise<true | undefined> = Promise.resolve(true)
    for (;;) {
      const batch = await this.#nextBatch(writing)
      if (!batch || batch.length === 0) break
      const t0 = performance.now()
      const prepared = await this.#retrying(batch, () => this.#prepare(batch))
      if (!prepared || !(await writing)) break
      writing = this.#retrying(batch, () => this.#write(prepared, t0))
    }
    await writing
  }

  #retrying<T>(batch: JsMsg[], step: () => Promise<T>): Promise<T | undefined> {
    return retrying(batch, { stats: this.stats, stopping: () => this.#stopping, log: this.d.log, what: 'batch' }, step)
  }

  #lap(from: number, step: keyof ProcessorStats['stepMs']): number {
    const now = performance.now()
    this.stats.stepMs[step] += now - from
    return now
  }

  /** Load the players' states and compute the batch on the workers; the changed states are
   *  then what the next batch sees. Pure but for that: a failure here is simply tried again. */
  async #prepare(batch: JsMsg[]): Promise<Prepared> {
    let mark = performance.now()
    const { controls, badControls } = controlsOf(batch)
    const keyed: KeyedEvent[] = []
    const tasks = await this.#tasks(
      batch.filter((m) => !CONTROL_KINDS.has(parseEventSubject(m.subject)?.kind ?? '')),
      keyed,
    )
    mark = this.#lap(mark, 'load')
    // every version, not the current value: the workers choose by the click's time
    const windows: Record<string, WindowVersion[]> = {}
    for (const o of this.d.offers?.map.values() ?? []) {
      const versions = windowVersions(o)
      if (versions.length > 0) windows[String(o.id)] = versions
    }
    const money = tasks.some((t) => t.kind === 'conversions') ? this.#moneyReference() : undefined
    const rules = this.d.fraudRules !== false
    const clickFraud = rules && tasks.some((t) => t.kind === 'clicks') ? this.#clickFraud(batch) : undefined
    const convFraud: ConversionFraudInput | undefined =
      rules && tasks.some((t) => t.kind === 'conversions')
        ? { settings: this.#fraudRules(), counts: keyed.length > 0 && this.d.keySets ? await this.d.keySets.count(keyed) : {}, emails: this.#emailHashes() }
        : undefined
    for (const t of tasks)
      if (t.kind === 'conversions')
        Object.assign(t, { windows, money, fraud: convFraud } satisfies Pick<Extract<TaskInput, { kind: 'conversions' }>, 'windows' | 'money' | 'fraud'>)
      else if (clickFraud) t.fraud = clickFraud
    const outs: TaskOutput[] = await Promise.all(tasks.map((t) => this.d.pool.run(t)))
    this.#lap(mark, 'compute')
    const changed: TaskOutput['players'] = {}
    for (const o of outs) Object.assign(changed, o.players)
    this.d.players.remember(changed)
    return { batch, outs, changed, controls, badControls }
  }

  /** Write a computed batch, in the order of the header, and acknowledge it. A failure here is
   *  tried again from the start with the same computed batch (its writes are idempotent). */
  async #write({ batch, outs, changed, controls, badControls }: Prepared, t0: number): Promise<true> {
    let mark = performance.now()
    const lap = (step: keyof ProcessorStats['stepMs']) => (mark = this.#lap(mark, step))
    const first = batch[0]!.seq
    const last = batch.at(-1)!.seq
    if (this.#pending?.first !== first || this.#pending.last !== last) {
      this.#pending = { first, last }
      await this.#saveProgress({ applied: this.#applied, pending: this.#pending })
    }
    const redo = this.#touched?.first === first && this.#touched.last === last
    lap('progress')

    const token = `${this.d.consumer}:${first}-${last}`
    const delta = new DeltaBuilder()
    let eventRows = ''
    let factRows = ''
    let events = 0
    let maxTs = 0
    const dead: TaskOutput['dead'] = [...badControls]
    for (const o of outs) {
      eventRows += o.eventRows
      factRows += o.factRows
      events += o.events
      maxTs = Math.max(maxTs, o.maxTs)
      delta.merge(o.delta)
      dead.push(...o.dead)
    }

    // A redone batch whose marker row is missing cannot trust its insert tokens: chDB records
    // a token before it commits the part, so a kill in between leaves the token without the
    // rows, and the redo would be dropped as a duplicate. Such a redo looks at each table.
    const verify = redo && !(await this.#recorded(first, last))
    const tokenFor = (table: string, rows: string) => (verify ? this.#redoToken(table, rows, first, last, token) : Promise.resolve(`${token}:${table}`))
    this.#touched = { first, last }
    await insertFormatted(this.d.ch, {
      table: 'events',
      columns: EVENT_COLUMNS,
      format: 'TabSeparated',
      body: eventRows,
      token: await tokenFor('events', eventRows),
    })
    await insertFormatted(this.d.ch, { ...FACTS_INSERT, body: factRows, token: await tokenFor('player_facts', factRows) })
    const findings = outs.flatMap((o) => o.findings)
    const findingRows = findings.map(findingRow).join('')
    await insertFormatted(this.d.ch, {
      table: 'fraud_findings',
      format: 'JSONEachRow',
      body: findingRows,
      token: await tokenFor('fraud_findings', findingRows),
    })
    lap('clickhouse')
    const js = this.d.nc.jetstream()
    for (const x of dead) {
      const kind = parseEventSubject(x.subject)?.kind ?? 'unknown'
      const body = enc.encode(JSON.stringify({ ...x, consumer: this.d.consumer }))
      await js.publish(dlqSubject(kind), body, { msgID: `dlq:${x.seq}:${x.idx}` })
    }
    // Outbound postbacks for the affiliates' attributed conversions, queued before the ack:
    // a batch redone after a crash queues the same ids, which the stream drops.
    if (this.d.endpoints && this.d.endpoints.map.size > 0) {
      const notices = outs.flatMap((o) => o.notices)
      // Sub-ids live on the click row (written by this batch at the latest, or earlier).
      const subs = notices.length > 0 && wantsSubs(this.d.endpoints.map.values()) ? await clickSubs(this.d.ch, notices) : undefined
      const deliveries = deliveriesFor(notices, this.d.endpoints.map.values(), subs)
      for (let i = 0; i < deliveries.length; i += 256)
        await Promise.all(deliveries.slice(i, i + 256).map((d) => js.publish(deliverySubject(d.endpointId), enc.encode(JSON.stringify(d)), { msgID: d.id })))
      this.stats.deliveriesQueued += deliveries.length
    }
    await insertFormatted(this.d.ch, {
      table: 'processed_batches',
      format: 'JSONEachRow',
      body: JSON.stringify({ consumer: this.d.consumer, first_seq: first, last_seq: last, messages: batch.length, events, max_ts: chTime(maxTs) }) + '\n',
      token: verify ? `${token}:batch:redo:${Date.now()}` : `${token}:batch`,
    })
    lap('clickhouse')
    // Accrual facts to the affiliate stage, before the player states are saved: a batch redone
    // after a crash publishes the same ids, which the stream drops. They go as one sequence in
    // cause order (merged back from the conversion tasks), in chunks: the affiliate stage applies
    // them in stream order, which is then cause order, wherever its own batches begin and end.
    // (Messages per affiliate partition would interleave an affiliate's own facts with the shares
    // written for it by other affiliates' facts differently from batch to batch; partitioning
    // the affiliate stage across processes waits for the watermark of distributed mode.)
    // Control commands go with them at their own positions: the facts before a close are its period's on-time facts.
    const accruals: StageFact[] = [...outs.flatMap((o) => o.accruals), ...controls].sort(compareFacts)
    if (controls.length > 0 && !this.d.accrualPartitions)
      this.d.log.warn({ controls: controls.map((c) => c.type) }, 'a close or adjustment with no affiliate stage to apply it (money is off)')
    if (accruals.length > 0 && this.d.accrualPartitions) {
      let chunk: string[] = []
      let bytes = 0
      let k = 0
      const flush = async () => {
        await js.publish(accrualSubject(0), enc.encode(chunk.join('\n') + '\n'), { msgID: `acc:${this.d.consumer}:${first}-${last}:${k++}` })
        chunk = []
        bytes = 0
      }
      for (const f of accruals) {
        const line = JSON.stringify(f)
        // a close goes in a message of its own: the affiliate stage applies it as a batch of its own
        if ((f.type === 'close' || bytes + line.length > ACCRUAL_CHUNK_BYTES) && chunk.length > 0) await flush()
        chunk.push(line)
        bytes += line.length + 1
        if (f.type === 'close') await flush()
      }
      if (chunk.length > 0) await flush()
      // money facts and commands (a registration's click-to-registration time for the late-conversion share is not one)
      this.stats.accruals += accruals.filter((f) => f.type !== 'conversion').length
    }
    const live: LiveDelta = { consumer: this.d.consumer, from: first, to: last, rows: delta.rows() }
    if (live.rows.length > 0) this.d.nc.publish(LIVE_DELTA_SUBJECT, enc.encode(JSON.stringify(live)))
    if (findings.length > 0)
      this.d.nc.publish(LIVE_FRAUD_SUBJECT, enc.encode(JSON.stringify({ consumer: this.d.consumer, from: first, to: last, findings } satisfies LiveFindings)))
    lap('publish')

    // the players per address, device and payment method before the players: a redo counts the same either way
    await this.d.keySets?.save()
    await this.d.players.save(changed)
    await this.#saveProgress({ applied: last })
    lap('state')
    await batch.at(-1)!.ackAck()
    lap('ack')
    this.#applied = last
    this.#pending = undefined
    this.#touched = undefined
    // counted once the batch is through, so a retried batch is not counted twice
    for (const o of outs) for (const [k, v] of Object.entries(o.counts)) this.stats.counts[k] = (this.stats.counts[k] ?? 0) + v
    this.stats.applied = last
    this.stats.batches++
    this.stats.events += events
    this.stats.deadLetters += dead.length
    this.stats.lastBatchMs = performance.now() - t0
    return true
  }

  /** Every version of the settings, the configured ones first (in force before any change), and
   *  the affiliates' own. */
  #fraudRules(): FraudRuleSettings {
    return ruleSettings(this.d.fraud?.map.get('settings'), this.d.fraudBase)
  }

  /** The affiliates' e-mail hashes (as the operator hashes a player's: sha256 of the trimmed,
   *  lower-cased address, hex), for the self-referral rule. */
  #emailHashes(): Record<string, string> {
    const out: Record<string, string> = {}
    for (const a of this.d.affiliates?.map.values() ?? []) {
      if (!a.email) continue
      let h = this.#emails.get(a.email)
      if (!h) this.#emails.set(a.email, (h = emailHash(a.email)))
      out[String(a.id)] = h
    }
    return out
  }

  /**
   * What the click rules read: the offers' terms, the settings, and the flood counts of this
   * batch's clicks, counted here in stream order (one pass over every click, before the workers
   * split them). A position counted before (a retried step) answers what it got then.
   */
  #clickFraud(batch: JsMsg[]): ClickFraudInput {
    const settings = this.#fraudRules()
    const terms: ClickFraudInput['terms'] = {}
    for (const o of this.d.offers?.map.values() ?? []) terms[String(o.id)] = { markets: o.markets, paidSearchForbidden: o.paidSearch === 'forbidden' }
    const flood: ClickFraudInput['flood'] = {}
    for (const m of batch) if (parseEventSubject(m.subject)?.kind === 'click') this.#count(m.seq, m.data, settings, flood)
    return { flood, terms, settings }
  }

  /** Count one click message's clicks in the windows; the floods into `flood` (by position). */
  #count(seq: number, data: Uint8Array, settings: FraudRuleSettings, flood?: ClickFraudInput['flood']) {
    countMessage(this.#windows, seq, data, (affiliateId, ts) => floodLimits(fraudSettingsFor(settings, affiliateId, ts)), flood)
  }

  /**
   * After a restart: count the clicks of the last minutes up to the position applied, as the
   * run before did, so the batch redone next and those after it get the counts they would have
   * got without the restart. Read from the stream (the system of record) from a few minutes
   * before the applied message was stored.
   */
  async #warmWindows(applied: number) {
    if (applied <= 0) return
    const jsm = await this.d.nc.jetstreamManager()
    let from: Date
    try {
      const m = await jsm.streams.getMessage(EVENTS_STREAM, { seq: applied })
      from = new Date(m.time.getTime() - WARM_MS)
    } catch {
      return // the applied message is gone (retention): nothing recent to count
    }
    const settings = this.#fraudRules()
    const js = this.d.nc.jetstream()
    const oc = await js.consumers.get(EVENTS_STREAM, {
      filterSubjects: CLICK_SUBJECTS,
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: from.toISOString(),
    })
    let n = 0
    const t0 = performance.now()
    for (;;) {
      const m = await oc.next({ expires: 2000 })
      if (!m || m.seq > applied) break
      this.#count(m.seq, m.data, settings)
      n++
      if (m.info.pending === 0) break
    }
    await oc.delete().catch(() => undefined)
    if (n > 0) this.d.log.info({ messages: n, ms: Math.round(performance.now() - t0) }, 'counted the last minutes of clicks again (the flood rule)')
  }

  /** The commission rules' reference data as the watches hold it now; none without the affiliates. */
  #moneyReference(): MoneyReference | undefined {
    if (!this.d.affiliates || !this.d.accrualPartitions) return undefined
    const brands: Record<string, number> = {}
    for (const o of this.d.offers?.map.values() ?? []) if (o.brandId) brands[String(o.id)] = o.brandId
    return { ...referenceData(this.d.deals.map.values(), this.d.fx?.map.values() ?? [], this.d.affiliates.map.values()), brands }
  }

  /** Click messages in byte-bounded chunks; conversions in ordered tasks, each with the states
   *  of the players it names. A player is always in one task (per-player order), and so are
   *  players being joined (a click key and the player id that names the same click, or a click
   *  key already joined to its player): messages that share a key, directly or through such a
   *  join, share a task. They spread over `conversionLanes` tasks so the workers share them. */
  async #tasks(batch: JsMsg[], keyed: KeyedEvent[]): Promise<TaskInput[]> {
    const tasks: TaskInput[] = []
    let chunk: JsMsg[] = []
    let bytes = 0
    const lanes = Math.max(1, this.d.conversionLanes ?? 1)
    const convs: { m: JsMsg; keys: string[] }[] = []
    for (const m of batch) {
      if (parseEventSubject(m.subject)?.kind === 'click') {
        chunk.push(m)
        bytes += m.data.length
        if (bytes >= TASK_BYTES) {
          tasks.push({ kind: 'clicks', ...pack(chunk) })
          chunk = []
          bytes = 0
        }
      } else {
        // a conversion message holds one player's events (its subject's partition is the player's)
        const keys: string[] = []
        for (const line of dec.decode(m.data).split('\n')) {
          if (!line) continue
          try {
            const x = JSON.parse(line) as {
              id?: unknown
              playerId?: unknown
              clickId?: unknown
              kind?: unknown
              ts?: unknown
              occurredAt?: unknown
              details?: Record<string, unknown>
            } | null
            if (!x || typeof x.id !== 'string') continue // the worker dead-letters it with the reason
            const own = stateKeys({
              id: x.id,
              playerId: typeof x.playerId === 'string' ? x.playerId : undefined,
              clickId: typeof x.clickId === 'string' ? x.clickId : undefined,
            })
            keys.push(...own)
            const d = x.details
            if (d && (typeof d.ip === 'string' || typeof d.device_id === 'string' || typeof d.payment_hash === 'string'))
              keyed.push({
                id: x.id,
                kind: String(x.kind),
                player: own[0]!,
                occurredAt: typeof x.occurredAt === 'number' ? x.occurredAt : typeof x.ts === 'number' ? x.ts : 0,
                ...(typeof d.ip === 'string' ? { ip: d.ip } : {}),
                ...(typeof d.device_id === 'string' ? { device: d.device_id } : {}),
                ...(typeof d.payment_hash === 'string' ? { payment: d.payment_hash } : {}),
              })
          } catch {
            // undecodable: the worker dead-letters it with the reason
          }
        }
        convs.push({ m, keys })
      }
    }
    if (chunk.length > 0) tasks.push({ kind: 'clicks', ...pack(chunk) })
    if (convs.length === 0) return tasks

    const players = await this.d.players.load(convs.flatMap((c) => c.keys))
    // a click key joined to its player: the player's state too
    const joined = [...new Set(Object.values(players).flatMap((st) => (st.joinedTo && !(st.joinedTo in players) ? [st.joinedTo] : [])))]
    if (joined.length > 0) Object.assign(players, await this.d.players.load(joined))
    // group messages by shared keys (union-find over keys), a group's lane by its least key
    const parent = new Map<string, string>()
    const find = (k: string): string => {
      let r = k
      while (parent.has(r) && parent.get(r) !== r) r = parent.get(r)!
      parent.set(k, r)
      return r
    }
    const union = (a: string, b: string) => {
      const [x, y] = [find(a), find(b)]
      if (x !== y) parent.set(x < y ? y : x, x < y ? x : y)
    }
    for (const c of convs) {
      for (const k of c.keys) {
        if (!parent.has(k)) parent.set(k, k)
        const to = players[k]?.joinedTo
        if (to) {
          if (!parent.has(to)) parent.set(to, to)
          union(k, to)
        }
      }
      for (const k of c.keys.slice(1)) union(c.keys[0]!, k)
    }
    const conv: JsMsg[][] = Array.from({ length: lanes }, () => [])
    const own: Record<string, PlayerState>[] = Array.from({ length: lanes }, () => ({}))
    for (const c of convs) {
      const lane = c.keys.length > 0 ? fnv1a(find(c.keys[0]!)) % lanes : 0
      conv[lane]!.push(c.m)
      for (const k of c.keys) {
        for (const x of [k, players[k]?.joinedTo]) if (x && players[x]) own[lane]![x] = players[x]!
      }
    }
    conv.forEach((c, lane) => {
      if (c.length > 0) tasks.push({ kind: 'conversions', ...pack(c), players: own[lane]! })
    })
    return tasks
  }

  /** Whether the batch's marker row (its last insert) is in ClickHouse. */
  async #recorded(first: number, last: number): Promise<boolean> {
    const [r] = await queryRows<{ n: string }>(
      this.d.ch,
      'SELECT toString(count()) AS n FROM processed_batches WHERE consumer = {c:String} AND first_seq = {f:UInt64} AND last_seq = {l:UInt64}',
      { c: this.d.consumer, f: first, l: last },
    )
    return Number(r?.n ?? 0) > 0
  }

  /** The insert token for a table in a redo that cannot trust tokens: the usual one when the
   *  rows are there (a no-op), a fresh one when none are (the lost-part case), and an error
   *  when only some are (never guess). Rows carry the stream position they were written at. */
  async #redoToken(table: string, rows: string, first: number, last: number, token: string): Promise<string> {
    const expected = rows ? rows.split('\n').length - 1 : 0
    if (expected === 0) return `${token}:${table}`
    const [r] = await queryRows<{ n: string }>(this.d.ch, `SELECT toString(count()) AS n FROM ${table} WHERE stream_seq BETWEEN {f:UInt64} AND {l:UInt64}`, {
      f: first,
      l: last,
    })
    const have = Number(r?.n ?? 0)
    if (have >= expected) return `${token}:${table}`
    if (have === 0) {
      this.d.log.warn({ table, first, last, rows: expected }, 'a redone batch found its rows missing although their insert was recorded; writing them again')
      this.stats.counts[`redo.rewritten.${table}`] = (this.stats.counts[`redo.rewritten.${table}`] ?? 0) + expected
      return `${token}:${table}:redo:${Date.now()}`
    }
    throw new Error(`${table} holds ${have} of the ${expected} rows of batch ${first}-${last}; not guessing which are missing`)
  }

  async #readProgress(): Promise<Progress> {
    const e = await this.d.progressKv.get(this.d.consumer)
    if (!e || e.operation !== 'PUT') return { applied: 0 }
    return JSON.parse(dec.decode(e.value)) as Progress
  }

  async #saveProgress(p: Progress) {
    await this.d.progressKv.put(this.d.consumer, enc.encode(JSON.stringify(p)))
  }
}

/** The control commands of a batch (period closes, manual adjustments), as the affiliate stage
 *  applies them; one the contract refuses (never from the query API, which checks it) is
 *  dead-lettered with the reason. */
function controlsOf(batch: JsMsg[]): { controls: (CloseFact | AdjustFact | ReviewFact)[]; badControls: DeadLetterRecord[] } {
  const controls: (CloseFact | AdjustFact | ReviewFact)[] = []
  const badControls: DeadLetterRecord[] = []
  for (const m of batch) {
    const kind = parseEventSubject(m.subject)?.kind
    if (kind !== 'close' && kind !== 'adjust' && kind !== 'review') continue
    const text = dec.decode(m.data)
    const schema = kind === 'close' ? CloseCommandSchema : kind === 'review' ? ReviewCommandSchema : AdjustmentCommandSchema
    let parsed: ReturnType<typeof schema.safeParse> | undefined
    try {
      parsed = schema.safeParse(JSON.parse(text))
    } catch {
      parsed = undefined
    }
    if (!parsed?.success) {
      const why = parsed ? parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') : 'not JSON'
      badControls.push({ seq: m.seq, idx: 0, subject: m.subject, reason: `invalid_${kind}: ${why}`, data: text.slice(0, 2000) })
      continue
    }
    const pos = { seq: m.seq, idx: 0, n: 0 }
    if (kind === 'close') {
      const c = parsed.data as CloseCommand
      controls.push({
        type: 'close',
        ...pos,
        closeId: closeIdOf(c.period),
        period: c.period,
        asOf: c.asOf,
        rounding: c.rounding,
        ...(c.threshold ? { threshold: c.threshold } : {}),
      })
    } else if (kind === 'review') {
      const r = parsed.data as ReviewCommand
      controls.push({
        type: 'review',
        ...pos,
        id: r.id,
        affiliateId: r.affiliateId,
        playerKey: r.playerKey,
        playerRef: r.playerRef,
        decision: r.decision,
        note: r.note,
        by: r.by,
        occurredAt: r.at,
      })
    } else {
      const a = parsed.data as AdjustmentCommand
      controls.push({
        type: 'adjust',
        ...pos,
        id: a.id,
        affiliateId: a.affiliateId,
        amount: a.amount,
        currency: a.currency,
        reason: a.reason,
        by: a.by,
        occurredAt: a.at,
        ...(a.kind === 'payment' ? { kind: 'payment' as const } : {}),
      })
    }
  }
  return { controls, badControls }
}

/** One buffer per task (copied once, moved to the worker), with each message's slice. */
function pack(msgs: JsMsg[]): { buf: Uint8Array; msgs: MessageRef[] } {
  let total = 0
  for (const m of msgs) total += m.data.length
  const buf = new Uint8Array(total)
  const refs: MessageRef[] = []
  let off = 0
  for (const m of msgs) {
    buf.set(m.data, off)
    refs.push({ seq: m.seq, subject: m.subject, start: off, end: off + m.data.length })
    off += m.data.length
  }
  return { buf, msgs: refs }
}

/** A finding as a fraud_findings row (JSONEachRow). */
function findingRow(f: FindingRecord): string {
  return (
    JSON.stringify({
      event_id: f.eventId,
      kind: f.kind,
      ts: chTime(f.ts),
      affiliate_id: f.affiliateId,
      sub1: f.sub1,
      player_ref: f.playerRef,
      click_id: f.clickId,
      reason: f.reason,
      action: f.action,
      score: f.score,
      shadow: f.shadow ? 1 : 0,
      evidence: JSON.stringify(f.evidence),
      stream_seq: f.seq,
      stream_idx: f.idx,
    }) + '\n'
  )
}
