/**
 * The processor's compute, pure and in one place: (state snapshot, stream messages) →
 * (ClickHouse rows, money facts, accrual facts for the commission engine, state changes, live
 * delta, dead letters).
 * It runs on piscina worker threads; nothing here does I/O or reads a clock, so replaying
 * the stream recomputes the same rows.
 *
 * Each step is a small function returning a typed result (processor/results.ts: ok, park,
 * drop or deadLetter, with the step's closed set of reasons), counted per step and reason;
 * `Accumulator.settle` is the one place a result turns into rows, counts or a dead letter.
 * An exception is a bug: it fails the whole task, and so the batch, which is retried.
 *
 * Per click line:        decode → click → (row, delta)
 * Per conversion line:   decode → convert → for the event and each event it released:
 *                                            (row, facts, delta, notice)
 */
import { chTime } from '../common/chtime.js'
import type { Notice } from '../common/outbound.js'
import type { LiveFinding } from '../common/live.js'
import { playerStateKey } from '../common/keys.js'
import type { ClickIdCheck } from '../common/clickid.js'
import type { WindowVersion } from '../common/entities.js'
import {
  ConversionEventSchema,
  conversionKey,
  MAX_EVENT_TS,
  occurredAtOf,
  ReassignEventSchema,
  type ClickEvent,
  type ConversionEvent,
  type ReassignEvent,
} from '../common/events.js'
import { parseEventSubject } from '../common/subjects.js'
import { FACT_FIELDS } from '../clickhouse/facts.js'
import { DeltaBuilder, type DeltaRow } from './delta.js'
import { storedIp, visitor, type IpStorage } from './domain/visitor.js'
import {
  after,
  applyConversion,
  applyReassign,
  type ConversionOutcome,
  type ParkedEvent,
  type PlayerFraud,
  type PlayerState,
  type Pos,
  type Released,
} from './domain/players.js'
import { windowAt } from './domain/attribution.js'
import { DETAIL_FACTS, factDay, factsOf } from './domain/facts.js'
import { actionOf, counterOf, deadLetter, deadLetterText, drop, ok, park, type StepResult } from './results.js'
import { eventRowTsv, tsvRow, type EventRow } from './rows.js'
import type { Deal } from '../common/deals.js'
import type { AccrualFact, ConversionFact, MarkFact } from './domain/commission/accrual.js'
import { referenceOf, type ReferenceData } from './affiliate-compute.js'
import { playerMoney, type MoneyEvent } from './domain/commission/player.js'
import { clickFindings, type ClickTerms } from './domain/fraud/click.js'
import { clickPos, type WindowCounts } from './domain/fraud/click-window.js'
import { decide } from '../common/fraud/finding.js'
import { fraudSettingsFor, type FraudRuleSettings, type FraudSettings } from '../common/entities/fraud.js'
import { hostingOf } from './domain/fraud/hosting.js'
import { conversionFindings, tallied, type KeyCounts } from './domain/fraud/conversion.js'

export type MessageRef = { seq: number; subject: string; start: number; end: number }

export type TaskInput =
  | { kind: 'clicks'; buf: Uint8Array; msgs: MessageRef[]; fraud?: ClickFraudInput }
  | {
      kind: 'conversions'
      buf: Uint8Array
      msgs: MessageRef[]
      players: Record<string, PlayerState>
      /** per offer id, its attribution window versions (an offer without any: the default) */
      windows?: Record<string, WindowVersion[]>
      /** reference data of the commission rules; without it no accrual facts are made */
      money?: MoneyReference
      /** what the conversion rules read beside the events; without it no rule is asked */
      fraud?: ConversionFraudInput
    }

/** What the conversion rules read: the settings (the program's versions and the affiliates' own), the players per address, device and
 *  payment method the batch's events counted (by event id), the affiliates' e-mail hashes. */
export type ConversionFraudInput = { settings: FraudRuleSettings; counts: Record<string, KeyCounts>; emails: Record<string, string> }

/** What the click rules read beside the clicks: the flood counts of the clicks over a limit
 *  (by position, clickPos), the offers' terms, and the settings. */
export type ClickFraudInput = { flood: Record<string, WindowCounts>; terms: Record<string, ClickTerms>; settings: FraudRuleSettings }

/** A finding as it is stored (fraud_findings) and shown in the live feed. */
export type FindingRecord = LiveFinding

/** What the player stage's commission rules read, as of the batch: the reference data both
 *  stages read, and offer id → its brand. */
export type MoneyReference = ReferenceData & { brands: Record<string, number> }

export type DeadLetterRecord = { seq: number; idx: number; subject: string; reason: string; data: string }

export type TaskOutput = {
  /** `events` rows, TabSeparated in EVENT_COLUMNS order */
  eventRows: string
  /** `player_facts` rows, JSONEachRow */
  factRows: string
  events: number
  maxTs: number
  delta: DeltaRow[]
  players: Record<string, PlayerState>
  dead: DeadLetterRecord[]
  /** result counts per step and reason (`step.reason`), for metrics */
  counts: Record<string, number>
  /** attributed conversions, for the affiliates' outbound postbacks */
  notices: Notice[]
  /** accrual facts for the affiliate stage, in cause order */
  accruals: (AccrualFact | ConversionFact | MarkFact)[]
  /** what the fraud rules found */
  findings: FindingRecord[]
}

export { chTime }
export type { Notice }

export type ComputeContext = {
  verify: (id: string) => ClickIdCheck
  pseudonym: (playerId: string) => string
  windowMs: number
  /** how a click's IP is stored, and the key of its pseudonym */
  ipStorage: IpStorage
  ipKey: string
}

// ---- the steps' closed sets of reasons and outcomes ----

export const DECODE_REASONS = ['undecodable', 'invalid_click', 'invalid_conversion'] as const
export type DecodeReason = (typeof DECODE_REASONS)[number]

/** A click is always stored; these say whether it counts (`valid`) and why not. */
export const CLICK_OUTCOMES = ['valid', 'flagged', 'geo_blocked', 'bot', 'click_flood', 'hosting_ip'] as const
export type ClickOutcome = (typeof CLICK_OUTCOMES)[number]

export const CONVERT_DROP_REASONS = ['already_applied'] as const
export type ConvertDropReason = (typeof CONVERT_DROP_REASONS)[number]

export const FACTS_DROP_REASONS = ['not_attributed', 'no_money'] as const
export type FactsDropReason = (typeof FACTS_DROP_REASONS)[number]

// ---- the pipeline ----

/** One task, as a worker runs it. */
export function compute(task: TaskInput, ctx: ComputeContext): TaskOutput {
  return task.kind === 'clicks' ? computeClicks(task, ctx) : computeConversions(task, ctx)
}

export function computeClicks(input: Extract<TaskInput, { kind: 'clicks' }>, ctx: Pick<ComputeContext, 'ipStorage' | 'ipKey'>): TaskOutput {
  const acc = new Accumulator()
  for (const at of eventLines(input)) {
    const e = acc.settle('decode', decodeClick(at.line), at)
    if (e === undefined) continue
    const c = acc.settle('click', click(e, at, ctx, input.fraud), at)
    if (c === undefined) continue
    acc.add(c.row, e.ts)
    const d = acc.delta.row(e.affiliateId, e.ts)
    if (c.counted) d.clicks++
    else if (c.filtered) d.filtered = (d.filtered ?? 0) + 1
    acc.found(c.findings, {
      eventId: e.id,
      kind: 'click',
      ts: e.ts,
      affiliateId: e.affiliateId,
      sub1: e.sub.sub1 ?? '',
      playerRef: '',
      clickId: e.id,
      seq: at.m.seq,
      idx: at.idx,
    })
  }
  return acc.output()
}

export function computeConversions(input: Extract<TaskInput, { kind: 'conversions' }>, ctx: ComputeContext): TaskOutput {
  const acc = new Accumulator()
  const players = new Map<string, PlayerState>(Object.entries(input.players))
  const changed: Record<string, PlayerState> = {}
  const facts: string[] = []
  const accruals: (AccrualFact | ConversionFact | MarkFact)[] = []
  const money = input.money ? moneyContext(input.money) : undefined
  for (const at of eventLines(input)) {
    const ev = acc.settle('decode', decodeConversion(at.line, parseEventSubject(at.m.subject)?.kind), at)
    if (ev === undefined) continue
    const j = joinOf(ev, players, at)
    const key = j.key
    if (j.count) acc.count(j.count)
    // a joined player keeps the pseudonym its first deposit was shown under
    const refSource = j.prior?.refSource ?? j.refSource
    const playerRef = refSource ? ctx.pseudonym(refSource) : playerRefOf(ev, ctx)
    if (j.alias) {
      // written even when the event itself was applied already: a save cut short after the
      // player's state and before the alias (PlayerStore saves in that order) is finished here
      players.set(j.alias.key, j.alias.state)
      changed[j.alias.key] = j.alias.state
    }
    const applied = acc.settle('convert', convert(ev, j.prior, at, playerRef, input, ctx), at)
    if (applied === undefined) continue
    players.set(key, applied.next)
    changed[key] = applied.next
    acc.events++
    // the event's own row, then those of the parked events it released
    const written: { e: RowSource; a: Applied }[] = [{ e: applied.source, a: applied }, ...(applied.released ?? []).map((r) => ({ e: rowSource(r.ev), a: r }))]
    let playerMoneyState = applied.next.money
    for (const [i, { e, a }] of written.entries()) {
      if (input.fraud && a.status === 'attributed' && e.kind !== 'reassign') {
        const { settings: s, marked } = judge(e as ConversionEvent, a, applied.next, playerRef, at, input.fraud, acc, i === 0 && j.clickTaken === true)
        // where a fact of this event goes (the player's money key, the next index at its position)
        const place = () => ({
          ...factAt(accruals, at),
          affiliateId: a.affiliateId,
          playerKey: applied.next.moneyKey ?? key,
          playerRef,
          eventId: e.id,
          occurredAt: occurredAtOf(e),
        })
        // newly marked: what the player earned that is still in its hold moves to review too
        if (money && marked) accruals.push({ type: 'mark', ...place(), action: marked.action, reasons: marked.reasons.join(', ') })
        // a registration through a click: the affiliate's late-conversion share (the affiliate stage keeps it)
        const clickTs = applied.next.clickTs
        if (money && e.kind === 'registration' && clickTs !== undefined)
          accruals.push({
            type: 'conversion',
            ...place(),
            ctitMs: occurredAtOf(e) - clickTs,
            late: { afterHours: s.lateAfterHours, max: s.lateShareMax, minConversions: s.lateMinConversions, shadow: s.shadow.late_conversions === true },
          })
      }
      if (money && a.status === 'attributed' && e.kind !== 'reassign') {
        const out = playerMoney(playerMoneyState ?? {}, e as MoneyEvent, {
          affiliateId: a.affiliateId,
          // ledger ids and books by the key the player's money started under (a cookieless FTD's click)
          playerKey: applied.next.moneyKey ?? key,
          playerRef,
          seq: at.m.seq,
          idx: at.idx,
          n0: factAt(accruals, at).n,
          occurredAt: occurredAtOf(e),
          receivedAt: e.ts,
          brandId: money.ref.brands[String(a.offerId)],
          deals: money.ref.deals,
          fx: money.fx,
          parentOf: money.parentOf,
          groupOf: money.groupOf,
          // a refund names the operator's event id; on the stream it is keyed by its source
          refOf: (r) => conversionKey((e as ConversionEvent).sourceId, r),
        })
        playerMoneyState = out.next
        const mark = applied.next.fraud
        accruals.push(...(mark ? out.facts.map((f) => ({ ...f, fraud: { action: mark.action, reasons: mark.reasons.join(', '), at: mark.at } })) : out.facts))
      }
      if (i > 0) acc.count(`convert.released.${e.kind}.${a.status}.${a.reason}`)
      // A released event's row is written at the position of the event that released it.
      acc.addRow(eventRowTsv(conversionRow(e, a, playerRef, at)), e.ts)
      const f = acc.settle('facts', moneyFacts(e, a, playerRef, at), at)
      if (f !== undefined) facts.push(f)
      tally(acc, e, a, playerRef)
    }
    if (playerMoneyState !== applied.next.money) applied.next.money = playerMoneyState
  }
  return acc.output({ factRows: facts.join(''), players: changed, accruals })
}

/**
 * The conversion rules on one attributed event (domain/fraud/conversion.ts): its findings are
 * kept; one that holds or rejects marks the player (the strongest so far stands), so the
 * event's own money and what the player earns after it are held or rejected.
 */
function judge(
  e: ConversionEvent,
  a: Applied,
  st: PlayerState,
  playerRef: string,
  at: At,
  fraud: ConversionFraudInput,
  acc: Accumulator,
  clickTaken: boolean,
): { settings: FraudSettings; marked?: PlayerFraud } {
  const occurredAt = occurredAtOf(e)
  const s = fraudSettingsFor(fraud.settings, a.affiliateId, occurredAt)
  const found = conversionFindings(
    {
      event: e,
      occurredAt,
      clickTs: st.clickTs,
      counts: fraud.counts[e.id],
      affiliateEmailHash: fraud.emails[String(a.affiliateId)],
      tally: st.fraudTally,
      clickTaken,
    },
    s,
  )
  const tally = tallied(st.fraudTally, e, occurredAt)
  if (tally) st.fraudTally = tally
  if (found.length === 0) return { settings: s }
  const d = decide(found, s)
  acc.found(d.findings, {
    eventId: e.id,
    kind: e.kind,
    ts: occurredAt,
    affiliateId: a.affiliateId,
    sub1: '',
    playerRef,
    clickId: a.clickId,
    seq: at.m.seq,
    idx: at.idx,
  })
  if (d.action !== 'hold' && d.action !== 'reject') return { settings: s }
  const reasons = d.findings.filter((f) => !f.shadow && (f.action === 'hold' || f.action === 'reject')).map((f) => f.reason)
  const before = st.fraud
  const action = before?.action === 'reject' ? 'reject' : d.action
  st.fraud = { action, reasons: [...new Set([...(before?.reasons ?? []), ...reasons])], at: before?.at ?? occurredAt }
  acc.count(`fraud.${action}`)
  // a new mark, or a hold become a reject
  return !before || before.action !== action ? { settings: s, marked: st.fraud } : { settings: s }
}

/** A new accrual fact's position: its event's, and the next index there (an event may cause several). */
function factAt(accruals: readonly { seq: number; idx: number; n: number }[], at: At): { seq: number; idx: number; n: number } {
  const last = accruals.at(-1)
  return { seq: at.m.seq, idx: at.idx, n: last && last.seq === at.m.seq && last.idx === at.idx ? last.n + 1 : 0 }
}

/** The commission rules' reference data, indexed once per task. */
function moneyContext(ref: MoneyReference) {
  const r = referenceOf(ref)
  return { ref, fx: r.fx, parentOf: r.parentOf, groupOf: r.groupOf }
}

// ---- decode ----

/** Where a line is: its message, its index inside it, its text. */
type At = { m: MessageRef; idx: number; line: string }

function* eventLines(input: { buf: Uint8Array; msgs: MessageRef[] }): Generator<At> {
  for (const m of input.msgs) {
    const ls = dec
      .decode(input.buf.subarray(m.start, m.end))
      .split('\n')
      .filter((l) => l.length > 0)
    for (let idx = 0; idx < ls.length; idx++) yield { m, idx, line: ls[idx]! }
  }
}

const UNDECODABLE = Symbol('undecodable')
function json(line: string): unknown {
  try {
    return JSON.parse(line)
  } catch {
    return UNDECODABLE
  }
}

export function decodeClick(line: string): StepResult<ClickEvent, DecodeReason> {
  const x = json(line)
  if (x === UNDECODABLE) return deadLetter('undecodable')
  return isClick(x) ? ok(x) : deadLetter('invalid_click')
}

type Decoded = ConversionEvent | ReassignEvent

export function decodeConversion(line: string, subjectKind: string | undefined): StepResult<Decoded, DecodeReason> {
  const x = json(line)
  if (x === UNDECODABLE) return deadLetter('undecodable')
  const parsed = ((x as { kind?: unknown } | null)?.kind === 'reassign' ? ReassignEventSchema : ConversionEventSchema).safeParse(x)
  if (!parsed.success) return deadLetter('invalid_conversion', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '))
  if (parsed.data.kind !== subjectKind) return deadLetter('invalid_conversion', `kind ${parsed.data.kind} on a ${subjectKind} subject`)
  const bad = parsed.data.kind === 'reassign' ? undefined : badDetail(parsed.data)
  return bad ? deadLetter('invalid_conversion', bad) : ok(parsed.data)
}

/** A detail that is to become a fact must be an exact decimal (ingest checks it; the stream
 *  may hold what other writers put there), and a day a calendar day. */
function badDetail(e: ConversionEvent): string | undefined {
  for (const f of DETAIL_FACTS) {
    const x = e.details?.[f]
    if (x !== undefined && !DECIMAL.test(x)) return `details.${f}: must be a decimal number with at most 12 decimals`
  }
  const d = e.details?.date
  if (d !== undefined && !(/^\d{4}-\d{2}-\d{2}$/.test(d) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d)))
    return 'details.date: must be a day as YYYY-MM-DD'
  return undefined
}
// Decimal(38, 12): at most 26 digits before the point; ingest allows 24.
const DECIMAL = /^-?\d{1,24}(\.\d{1,12})?$/

// ---- click ----

/**
 * A click's row, whether it counts, and what the fraud rules found (domain/fraud/click.ts). A
 * visitor the link's geo rule stopped never reached the offer; a bot user agent, a click flood
 * (the processor's count per address and device, or ingest's guard) and a hosting address are
 * filtered; a paid-search click id or a country outside the offer's markets flags the click,
 * which still counts. All are kept for the fraud team; only `valid` clicks count. A rule in
 * shadow mode is found and shown, and filters nothing.
 */
export function click(
  e: ClickEvent,
  at: At,
  ctx: Pick<ComputeContext, 'ipStorage' | 'ipKey'>,
  fraud?: ClickFraudInput,
): StepResult<{ row: string; counted: boolean; filtered: boolean; findings: Decided['findings'] }, never, ClickOutcome> {
  const v = visitor(e.ip, e.ua)
  const settings = fraudSettingsFor(fraud?.settings, e.affiliateId, e.ts)
  const found = clickFindings(
    {
      isBot: v.isBot,
      ua: e.ua,
      country: v.country,
      params: e.params,
      geoRuled: e.geo !== undefined,
      hosting: fraud ? hostingOf(e.ip) : undefined,
      flood: fraud?.flood[String(clickPos(at.m.seq, at.idx))],
      ingestFlood: e.flood === true,
    },
    fraud?.terms[String(e.offerId)],
    settings,
  )
  const d = decide(found, settings)
  // A blocked visitor was answered 403, whatever else is true of it; a bot is a bot however
  // often it comes.
  const outcome: ClickOutcome =
    e.geo === 'blocked' ? 'geo_blocked' : d.action === 'none' ? 'valid' : d.action === 'flag' ? 'flagged' : (d.top!.reason as ClickOutcome)
  const status = outcome === 'valid' || outcome === 'flagged' ? 'valid' : outcome === 'geo_blocked' ? 'blocked' : 'filtered'
  const reason = outcome === 'flagged' ? d.top!.reason : outcome !== 'valid' && outcome !== 'geo_blocked' ? outcome : e.geo ? `geo_${e.geo}` : ''
  // a click happens when it is received: one time text for both columns
  const ts = chTime(e.ts)
  const row = eventRowTsv({
    event_id: e.id,
    kind: 'click',
    ts,
    affiliate_id: e.affiliateId,
    link_id: e.linkId,
    offer_id: e.offerId,
    source_id: 0,
    click_id: '',
    player_ref: '',
    amount: '0',
    currency: '',
    status,
    reason,
    ip: storedIp(e.ip, ctx.ipStorage, ctx.ipKey),
    ua: e.ua,
    referer: e.referer,
    sub1: e.sub.sub1 ?? '',
    sub2: e.sub.sub2 ?? '',
    sub3: e.sub.sub3 ?? '',
    sub4: e.sub.sub4 ?? '',
    sub5: e.sub.sub5 ?? '',
    params: e.params,
    details: NO_DETAILS,
    stream_seq: at.m.seq,
    stream_idx: at.idx,
    country: v.country,
    device: v.device,
    os: v.os,
    browser: v.browser,
    is_bot: v.isBot ? 1 : 0,
    occurred_at: ts,
  })
  return ok({ row, counted: status === 'valid', filtered: status === 'filtered', findings: d.findings }, outcome)
}

type Decided = ReturnType<typeof decide>

// ---- convert ----

/** What an events row is built from: a conversion, or an operator's reassignment. */
type RowSource = Pick<ConversionEvent, 'id' | 'ts' | 'occurredAt' | 'sourceId' | 'clickId' | 'amount' | 'currency' | 'playerId'> & {
  kind: string
  details?: Record<string, string>
}
type Applied = Released | Exclude<ConversionOutcome, { status: 'already_applied' }>
type Converted = Exclude<ConversionOutcome, { status: 'already_applied' }> & { source: RowSource }

function rowSource(e: Decoded): RowSource {
  // a reassignment's details are its audit record
  return e.kind === 'reassign'
    ? { kind: e.kind, id: e.id, sourceId: 0, ts: e.ts, playerId: e.playerId, details: { from_affiliate: '', by: e.by, note: e.note } }
    : e
}

/** A cookieless FTD (click id, no player id) is keyed by its click, and so is its pseudonym. */
function playerRefOf(e: Decoded, ctx: ComputeContext): string {
  return ctx.pseudonym(e.playerId ?? `click:${('clickId' in e ? e.clickId : undefined) ?? e.id}`)
}

/** The player's rules (domain/players.ts) applied to the event and the player's state. */
export function convert(
  ev: Decoded,
  prior: PlayerState | undefined,
  at: At,
  playerRef: string,
  input: Pick<Extract<TaskInput, { kind: 'conversions' }>, 'windows'>,
  ctx: Pick<ComputeContext, 'verify' | 'windowMs'>,
): StepResult<Converted, ConvertDropReason> {
  const windowMs = (offerId: number, clickTs: number) => {
    const versions = input.windows?.[String(offerId)]
    return versions?.length ? windowAt(versions, clickTs, ctx.windowMs / DAY_MS) * DAY_MS : ctx.windowMs
  }
  const rules = { verify: ctx.verify, windowMs, playerRef }
  const pos = [at.m.seq, at.idx] as const
  const out = ev.kind === 'reassign' ? applyReassign(ev, pos, prior, rules) : applyConversion(ev, pos, prior, rules)
  if (out.status === 'already_applied') return drop('already_applied')
  const source = rowSource(ev)
  if (ev.kind === 'reassign') source.details = { ...source.details, from_affiliate: String(out.next.reassignedFrom ?? 0) }
  const label = `${ev.kind}.${out.status}.${out.reason}`
  return out.status === 'parked' ? park({ ...out, source }, label) : ok({ ...out, source }, label)
}

function conversionRow(e: RowSource, a: Applied, playerRef: string, at: At): EventRow {
  return {
    event_id: e.id,
    kind: e.kind,
    ts: chTime(e.ts),
    affiliate_id: a.affiliateId,
    link_id: a.linkId,
    offer_id: a.offerId,
    source_id: e.sourceId,
    // An attributed row shows only the click of the binding: the id a platform sends with a
    // later event is unverified and may be another affiliate's.
    click_id: a.affiliateId > 0 ? a.clickId : a.clickId || (e.clickId ?? ''),
    player_ref: playerRef,
    amount: e.amount ?? '0',
    currency: e.currency ?? '',
    status: a.status,
    reason: a.reason,
    ...NO_CLICK_FIELDS,
    params: {},
    details: (e.details ?? NO_DETAILS) as Record<string, string>,
    stream_seq: at.m.seq,
    stream_idx: at.idx,
    occurred_at: chTime(occurredAtOf(e)),
  }
}

// ---- facts ----

/** The columns of a `player_facts` row, in the order moneyFacts writes them (TabSeparated). */
export const FACT_COLUMNS = [
  'event_id',
  'kind',
  'ts',
  'occurred_at',
  'day',
  'affiliate_id',
  'player_ref',
  'currency',
  ...FACT_FIELDS,
  'stream_seq',
  'stream_idx',
] as const

/** How moneyFacts' rows are inserted (with insertFormatted: the body and token added). */
export const FACTS_INSERT = { table: 'player_facts', columns: FACT_COLUMNS, format: 'TabSeparated' } as const

/** The `player_facts` row of an attributed event that moves money (TabSeparated, FACT_COLUMNS). */
export function moneyFacts(e: RowSource, a: Applied, playerRef: string, at: At): StepResult<string, FactsDropReason> {
  if (a.status !== 'attributed' || e.kind === 'reassign') return drop('not_attributed')
  const f = factsOf(e as ConversionEvent)
  if (Object.keys(f).length === 0) return drop('no_money')
  const row: Record<string, string | number> = {
    event_id: e.id,
    kind: e.kind,
    ts: chTime(e.ts),
    occurred_at: chTime(occurredAtOf(e)),
    day: factDay(e as ConversionEvent),
    affiliate_id: a.affiliateId,
    player_ref: playerRef,
    currency: e.currency ?? '',
  }
  for (const k of FACT_FIELDS) row[k] = f[k] ?? '0'
  row.stream_seq = at.m.seq
  row.stream_idx = at.idx
  return ok(tsvRow(FACT_COLUMNS, row as Record<(typeof FACT_COLUMNS)[number], string | number>), 'written')
}

// ---- tally: the live delta, outbound notices ----

function tally(acc: Accumulator, e: RowSource, a: Applied, playerRef: string) {
  if (a.status === 'attributed' && e.kind !== 'reassign')
    acc.notices.push({
      eventId: e.id,
      kind: e.kind,
      ts: e.ts,
      affiliateId: a.affiliateId,
      offerId: a.offerId,
      clickId: a.clickId,
      player: playerRef,
      amount: e.amount ?? '',
      currency: e.currency ?? '',
    })
  const d = acc.delta.row(a.affiliateId, e.ts)
  // the same definitions as the reports' (clickhouse/counters.ts)
  if (a.status === 'unattributed' && e.kind !== 'reassign') d.unattributed++
  else if (a.status === 'attributed') {
    if (e.kind === 'registration') d.registrations++
    else if (e.kind === 'ftd') d.ftds++
  }
}

const DAY_MS = 86_400_000

// ---- the one place results become rows, counts and dead letters ----

class Accumulator {
  readonly delta = new DeltaBuilder()
  readonly dead: DeadLetterRecord[] = []
  readonly counts: Record<string, number> = {}
  readonly notices: Notice[] = []
  readonly findings: FindingRecord[] = []
  // Rows collected in an array and joined once: appending to one string made cons-strings
  // that cost more in GC than the rest of the step together.
  readonly rows: string[] = []
  events = 0
  maxTs = 0

  count(k: string) {
    this.counts[k] = (this.counts[k] ?? 0) + 1
  }

  /** Keep what the rules found about one event (where: the event's side of each record). */
  found(findings: readonly Decided['findings'][number][], where: Omit<FindingRecord, 'reason' | 'action' | 'score' | 'shadow' | 'evidence'>) {
    for (const f of findings) this.findings.push({ ...where, reason: f.reason, action: f.action, score: f.score, shadow: f.shadow, evidence: f.evidence })
  }

  /** Count the result; the value to carry on (ok, park), or undefined (drop, dead letter). */
  settle<T>(step: string, r: StepResult<T, string>, at: At): T | undefined {
    const counter = counterOf(step, r)
    if (counter !== undefined) this.count(counter)
    switch (actionOf(r)) {
      case 'write':
      case 'hold':
        return (r as { value: T }).value
      case 'skip':
        return undefined
      case 'dead_letter':
        this.dead.push({
          seq: at.m.seq,
          idx: at.idx,
          subject: at.m.subject,
          reason: deadLetterText(r as Extract<typeof r, { type: 'dead_letter' }>),
          data: at.line,
        })
        return undefined
    }
  }

  /** A stream event's own row. */
  add(row: string, ts: number) {
    this.addRow(row, ts)
    this.events++
  }

  addRow(row: string, ts: number) {
    this.rows.push(row)
    if (ts > this.maxTs) this.maxTs = ts
  }

  output(extra: { factRows?: string; players?: Record<string, PlayerState>; accruals?: (AccrualFact | ConversionFact | MarkFact)[] } = {}): TaskOutput {
    return {
      eventRows: this.rows.join(''),
      factRows: extra.factRows ?? '',
      events: this.events,
      maxTs: this.maxTs,
      delta: this.delta.rows(),
      notices: this.notices,
      players: extra.players ?? {},
      accruals: extra.accruals ?? [],
      findings: this.findings,
      dead: this.dead,
      counts: this.counts,
    }
  }
}

// ---- helpers ----

/** KV key of a player's state. */
export function playerKey(e: Pick<ConversionEvent, 'playerId' | 'clickId' | 'id'>): string {
  return playerStateKey(e)
}

/** The state keys an event may touch: its own, and for an event that names both its player
 *  and a click, the click's (a cookieless first deposit may be waiting there). */
export function stateKeys(e: Pick<ConversionEvent, 'playerId' | 'clickId' | 'id'>): string[] {
  const own = playerKey(e)
  return e.playerId && e.clickId ? [own, playerStateKey({ id: e.id, clickId: e.clickId })] : [own]
}

/**
 * One player, one key. A first deposit reported with its click and no player id (cookieless) is
 * keyed by its click; the player's later events by the player id. The first event that names
 * both joins them, whichever came first:
 *   - the click's state holds a binding (and money) and the player's holds none: the player
 *     takes it over, with its money still under the click's key (ledger ids and books stay the
 *     same) and its pseudonym still the click's; events the player's key had parked (a deposit
 *     reported before the player was known) come along and are released by this event;
 *   - neither holds a binding: the parked events of both are kept, in arrival order;
 *   - either way, the click's key then points at the player's (`joinedTo`), so a later event
 *     that brings the click alone is applied to the player.
 * Both holding a binding already (two players claiming one click) joins nothing: counted as
 * `join.conflict`, each keeps its own. An event on a joined click key goes to its player; an
 * event of another player naming a click already joined is `clickTaken` (the fraud rules hold it).
 *
 * A join writes two states; PlayerStore saves the player's before the alias. A redone batch
 * finds the player already holding the click's money (`moneyKey`) and only writes the alias.
 */
export function joinOf(
  ev: Decoded,
  players: Map<string, PlayerState>,
  at: { m: Pick<MessageRef, 'seq'>; idx: number },
): {
  key: string
  prior: PlayerState | undefined
  /** what the player's pseudonym is made of, where it is not the event's own */
  refSource?: string
  alias?: { key: string; state: PlayerState }
  count?: string
  /** the event names a click that already brought another player */
  clickTaken?: true
} {
  const own = playerKey(ev)
  const st = players.get(own)
  if (st?.joinedTo) {
    const prior = players.get(st.joinedTo)
    return { key: st.joinedTo, prior, refSource: prior?.refSource ?? st.refSource, count: 'join.followed' }
  }
  if (ev.kind === 'reassign' || !ev.playerId || !('clickId' in ev) || !ev.clickId) return { key: own, prior: st }
  const ck = playerStateKey({ id: ev.id, clickId: ev.clickId })
  if (ck === own) return { key: own, prior: st }
  const cst = players.get(ck)
  if (cst?.joinedTo) return cst.joinedTo === own ? { key: own, prior: st } : { key: own, prior: st, clickTaken: true }
  const pos: Pos = [at.m.seq, at.idx]
  const takes = cst !== undefined && cst.boundAt !== undefined && st?.boundAt === undefined
  // the click key remembers whose pseudonym its later events are shown under
  const refSource = st?.moneyKey === ck || takes ? (st?.refSource ?? cst?.refSource ?? `click:${ev.clickId}`) : ev.playerId
  const alias = { key: ck, state: { pos, affiliateId: 0, linkId: 0, offerId: 0, joinedTo: own, refSource } satisfies PlayerState }
  if (!cst) return { key: own, prior: st, alias }
  if (st?.moneyKey === ck) return { key: own, prior: st, alias, count: 'join.finished' }
  const bound = (s: PlayerState | undefined) => s?.boundAt !== undefined
  if (bound(st) && bound(cst)) return { key: own, prior: st, count: 'join.conflict' }
  const parked = mergeParked(st?.parked, cst.parked)
  const withParked = (s: PlayerState): PlayerState => {
    const { parked: _p, ...rest } = s
    return parked.length ? { ...rest, parked } : rest
  }
  if (takes || !st) {
    const { joinedTo: _j, ...taken } = cst
    const carries = takes ? { moneyKey: cst.moneyKey ?? ck, refSource } : {}
    return { key: own, prior: withParked({ ...taken, ...carries, pos: later(st?.pos, cst.pos) }), alias, count: 'join.taken_over' }
  }
  return { key: own, prior: withParked({ ...st, pos: later(st.pos, cst.pos) }), alias, count: 'join.merged' }
}

/** Two keys' parked events as one list in arrival order, each event once. */
function mergeParked(a: ParkedEvent[] | undefined, b: ParkedEvent[] | undefined): ParkedEvent[] {
  const seen = new Set<string>()
  return [...(a ?? []), ...(b ?? [])]
    .sort((x, y) => (after(x.pos, y.pos) ? 1 : after(y.pos, x.pos) ? -1 : 0))
    .filter((p) => !seen.has(p.ev.id) && (seen.add(p.ev.id), true))
}

const later = (a: Pos | undefined, b: Pos): Pos => (a && after(a, b) ? a : b)

const dec = new TextDecoder()

function isClick(x: unknown): x is ClickEvent {
  const c = x as ClickEvent
  return (
    typeof c === 'object' &&
    c !== null &&
    c.kind === 'click' &&
    typeof c.id === 'string' &&
    c.id.length > 0 &&
    Number.isSafeInteger(c.ts) &&
    c.ts >= 0 &&
    c.ts <= MAX_EVENT_TS &&
    Number.isSafeInteger(c.linkId) &&
    Number.isSafeInteger(c.affiliateId) &&
    Number.isSafeInteger(c.offerId) &&
    typeof c.ip === 'string' &&
    typeof c.ua === 'string' &&
    typeof c.code === 'string' &&
    typeof c.referer === 'string' &&
    stringMap(c.sub) &&
    stringMap(c.params) &&
    (c.geo === undefined || c.geo === 'blocked' || c.geo === 'redirected') &&
    (c.flood === undefined || c.flood === true)
  )
}

function stringMap(x: unknown): x is Record<string, string> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return false
  for (const v of Object.values(x)) if (typeof v !== 'string') return false
  return true
}

/** The click-only columns of a conversion row. */
const NO_CLICK_FIELDS = {
  ip: '',
  ua: '',
  referer: '',
  sub1: '',
  sub2: '',
  sub3: '',
  sub4: '',
  sub5: '',
  params: {},
  country: '',
  device: '',
  os: '',
  browser: '',
  is_bot: 0,
} as const
const NO_DETAILS = {} as Record<string, string>
