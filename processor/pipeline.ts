/**
 * The processor's compute, pure and in one place: (state snapshot, stream messages) →
 * (ClickHouse rows, ledger entries, state changes, live delta, dead letters). It runs on
 * piscina worker threads; nothing here does I/O or reads a clock, so replaying the stream
 * recomputes the same rows.
 *
 * Steps, per message, top to bottom:
 *   decode    NDJSON lines of the subject's kind         → dead letter: undecodable / invalid
 *   click     a tracked click (signed id issued by ingest) → events row
 *   convert   registration / ftd against the player state  → events row, ledger entry, state
 *   tally     the batch's live delta per affiliate and minute
 */
import { playerStateKey } from '../common/keys.js'
import type { ClickIdCheck } from '../common/clickid.js'
import type { CpaDeal } from '../common/entities.js'
import { ConversionEventSchema, MAX_EVENT_TS, ReassignEventSchema, type ClickEvent, type ConversionEvent } from '../common/events.js'
import { parseEventSubject } from '../common/subjects.js'
import { DeltaBuilder, type DeltaRow } from './delta.js'
import { storedIp, visitor, type IpStorage } from './domain/visitor.js'
import { applyConversion, applyReassign, type ConversionOutcome, type PlayerState, type Released } from './domain/players.js'
import type { LedgerEntry } from './domain/commission.js'
import { eventRowTsv, type EventRow } from './rows.js'

export type MessageRef = { seq: number; subject: string; start: number; end: number }

export type TaskInput =
  | { kind: 'clicks'; buf: Uint8Array; msgs: MessageRef[] }
  | { kind: 'conversions'; buf: Uint8Array; msgs: MessageRef[]; players: Record<string, PlayerState>; deals: Record<string, CpaDeal>; windows?: Record<string, number> }

export type DeadLetter = { seq: number; idx: number; subject: string; reason: string; data: string }

export type TaskOutput = {
  /** `events` rows, TabSeparated in EVENT_COLUMNS order */
  eventRows: string
  /** `ledger` rows, JSONEachRow */
  ledgerRows: string
  events: number
  maxTs: number
  delta: DeltaRow[]
  players: Record<string, PlayerState>
  dead: DeadLetter[]
  /** outcome counts per step, for metrics */
  counts: Record<string, number>
  /** attributed conversions, for the affiliates' outbound postbacks */
  notices: Notice[]
}

/** What an outbound postback can tell an affiliate about one of its conversions. */
export type Notice = {
  eventId: string
  kind: string
  ts: number
  affiliateId: number
  offerId: number
  clickId: string
  /** the player's pseudonym, never the id */
  player: string
  amount: string
  currency: string
}

export type ComputeContext = {
  verify: (id: string) => ClickIdCheck
  pseudonym: (playerId: string) => string
  windowMs: number
  /** how a click's IP is stored, and the key of its pseudonym */
  ipStorage: IpStorage
  ipKey: string
}

/** KV key of a player's state. */
export function playerKey(e: Pick<ConversionEvent, 'playerId' | 'clickId' | 'id'>): string {
  return playerStateKey(e)
}


const dec = new TextDecoder()

/** ClickHouse DateTime64(3) text from a ms epoch. */
export function chTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 23).replace('T', ' ')
}

function lines(buf: Uint8Array, m: MessageRef): string[] {
  return dec
    .decode(buf.subarray(m.start, m.end))
    .split('\n')
    .filter((l) => l.length > 0)
}

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
    stringMap(c.params)
  )
}

function stringMap(x: unknown): x is Record<string, string> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return false
  for (const v of Object.values(x)) if (typeof v !== 'string') return false
  return true
}

const UNDECODABLE = Symbol('undecodable')

/** What a task accumulates: rows, the live delta, dead letters and outcome counts. */
class Accumulator {
  readonly delta = new DeltaBuilder()
  readonly dead: DeadLetter[] = []
  readonly counts: Record<string, number> = {}
  // Rows collected in an array and joined once: appending to one string made cons-strings
  // that cost more in GC than the rest of the step together.
  readonly rows: string[] = []
  events = 0
  maxTs = 0

  count(k: string) {
    this.counts[k] = (this.counts[k] ?? 0) + 1
  }

  reject(m: MessageRef, idx: number, line: string, reason: string, counter: string) {
    this.dead.push({ seq: m.seq, idx, subject: m.subject, reason, data: line })
    this.count(counter)
  }

  /** The line as JSON, or UNDECODABLE (already dead-lettered). */
  parse(m: MessageRef, idx: number, line: string): unknown {
    try {
      return JSON.parse(line)
    } catch {
      this.reject(m, idx, line, 'undecodable', 'decode.undecodable')
      return UNDECODABLE
    }
  }

  /** Serialise a row; an event whose row cannot be built is dead-lettered, not fatal to the batch. */
  row(m: MessageRef, idx: number, line: string, counter: string, build: () => EventRow): string | undefined {
    try {
      return eventRowTsv(build())
    } catch (err) {
      this.reject(m, idx, line, `compute_error: ${(err as Error).message}`, counter)
      return undefined
    }
  }

  add(row: string, ts: number) {
    this.addRow(row, ts)
    this.events++
  }

  /** A row that is not a stream event of its own (a parked event applied on binding). */
  addRow(row: string, ts: number) {
    this.rows.push(row)
    if (ts > this.maxTs) this.maxTs = ts
  }

  readonly notices: Notice[] = []

  output(extra: { ledgerRows?: string; players?: Record<string, PlayerState> } = {}): TaskOutput {
    return {
      eventRows: this.rows.join(''),
      ledgerRows: extra.ledgerRows ?? '',
      events: this.events,
      maxTs: this.maxTs,
      delta: this.delta.rows(),
      notices: this.notices,
      players: extra.players ?? {},
      dead: this.dead,
      counts: this.counts,
    }
  }
}

function visitorColumns(e: ClickEvent) {
  const v = visitor(e.ip, e.ua)
  return { country: v.country, device: v.device, os: v.os, browser: v.browser, is_bot: v.isBot ? (1 as const) : (0 as const) }
}

/** The click-only columns of a conversion row. */
const NO_CLICK_FIELDS = { ip: '', ua: '', referer: '', sub1: '', sub2: '', sub3: '', sub4: '', sub5: '', params: {}, country: '', device: '', os: '', browser: '', is_bot: 0 } as const
const NO_DETAILS = {} as Record<string, string>

export function computeClicks(input: Extract<TaskInput, { kind: 'clicks' }>, ctx: Pick<ComputeContext, 'ipStorage' | 'ipKey'>): TaskOutput {
  const acc = new Accumulator()
  for (const m of input.msgs) {
    const ls = lines(input.buf, m)
    for (let idx = 0; idx < ls.length; idx++) {
      const line = ls[idx]!
      const e = acc.parse(m, idx, line)
      if (e === UNDECODABLE) continue
      if (!isClick(e)) {
        acc.reject(m, idx, line, 'invalid_click', 'decode.invalid')
        continue
      }
      const row = acc.row(m, idx, line, 'click.compute_error', () => ({
        event_id: e.id,
        kind: 'click',
        ts: chTime(e.ts),
        affiliate_id: e.affiliateId,
        link_id: e.linkId,
        offer_id: e.offerId,
        source_id: 0,
        click_id: '',
        player_ref: '',
        amount: '0',
        currency: '',
        // A visitor the link's geo rule stopped never reached the offer: kept for the fraud
        // team, not counted as a click.
        status: e.geo === 'blocked' ? 'blocked' : 'valid',
        reason: e.geo ? `geo_${e.geo}` : '',
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
        stream_seq: m.seq,
        stream_idx: idx,
        ...visitorColumns(e),
      }))
      if (row === undefined) continue
      acc.add(row, e.ts)
      if (e.geo === 'blocked') {
        acc.count('click.geo_blocked')
        continue
      }
      acc.delta.row(e.affiliateId, e.ts).clicks++
      acc.count('click.valid')
    }
  }
  return acc.output()
}

/** What an events row is built from: a conversion, or an operator's reassignment. */
type RowSource = Pick<ConversionEvent, 'id' | 'ts' | 'sourceId' | 'clickId' | 'amount' | 'currency' | 'playerId'> & { kind: string; details?: Record<string, string> }

export function computeConversions(input: Extract<TaskInput, { kind: 'conversions' }>, ctx: ComputeContext): TaskOutput {
  const acc = new Accumulator()
  const players = new Map<string, PlayerState>(Object.entries(input.players))
  const changed: Record<string, PlayerState> = {}
  const ledger: LedgerEntry[] = []
  for (const m of input.msgs) {
    const kind = parseEventSubject(m.subject)?.kind
    const ls = lines(input.buf, m)
    for (let idx = 0; idx < ls.length; idx++) {
      const line = ls[idx]!
      const raw = acc.parse(m, idx, line)
      if (raw === UNDECODABLE) continue
      const parsed = ((raw as { kind?: unknown } | null)?.kind === 'reassign' ? ReassignEventSchema : ConversionEventSchema).safeParse(raw)
      if (!parsed.success || parsed.data.kind !== kind) {
        const why = parsed.success
          ? `kind ${parsed.data.kind} on a ${kind} subject`
          : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')
        acc.reject(m, idx, line, `invalid_conversion: ${why}`, 'decode.invalid')
        continue
      }
      const pe = parsed.data
      // What the row of an event shows; a reassignment's details are its audit record.
      const ev: RowSource =
        pe.kind === 'reassign' ? { kind: pe.kind, id: pe.id, sourceId: 0, ts: pe.ts, playerId: pe.playerId, details: { from_affiliate: '', by: pe.by, note: pe.note } } : pe
      const key = playerKey(ev)
      // A cookieless FTD (click id, no player id) is keyed by its click, and so is its pseudonym.
      const playerRef = ctx.pseudonym(ev.playerId ?? `click:${ev.clickId ?? ev.id}`)
      // Everything that could throw runs before anything is changed.
      let out: ReturnType<typeof applyConversion>
      try {
        const rules = { verify: ctx.verify, windowMs: (offerId: number) => input.windows?.[String(offerId)] ?? ctx.windowMs, dealOf: (a: number) => input.deals[String(a)], playerRef }
        const prior = players.get(key)
        out = pe.kind === 'reassign' ? applyReassign(pe, [m.seq, idx], prior, rules) : applyConversion(pe, [m.seq, idx], prior, rules)
        if (pe.kind === 'reassign' && out.status !== 'already_applied') ev.details = { ...ev.details, from_affiliate: String(out.next.reassignedFrom ?? 0) }
      } catch (err) {
        acc.reject(m, idx, line, `compute_error: ${(err as Error).message}`, 'convert.compute_error')
        continue
      }
      if (out.status === 'already_applied') {
        acc.count('convert.already_applied')
        continue
      }
      const o = out
      // A released event's row is written at the position of the event that released it.
      const build = (e: RowSource, a: Released | typeof o) => (): EventRow => ({
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
        stream_seq: m.seq,
        stream_idx: idx,
      })
      const row = acc.row(m, idx, line, 'convert.compute_error', build(ev, o))
      if (row === undefined) continue
      const releasedRows: string[] = []
      for (const r of o.released ?? []) {
        const rr = acc.row(m, idx, line, 'convert.compute_error', build(r.ev, r))
        if (rr === undefined) break
        releasedRows.push(rr)
      }
      if (releasedRows.length !== (o.released?.length ?? 0)) continue // dead-lettered whole
      players.set(key, o.next)
      changed[key] = o.next
      acc.count(`convert.${ev.kind}.${o.status}.${o.reason}`)
      acc.add(row, ev.ts)
      tally(ev, o, playerRef)
      o.released?.forEach((r, i) => {
        acc.count(`convert.released.${r.ev.kind}.${r.status}.${r.reason}`)
        acc.addRow(releasedRows[i]!, r.ev.ts)
        tally(r.ev, r, playerRef)
      })
    }
  }

  function tally(e: RowSource, a: Released | Exclude<ConversionOutcome, { status: 'already_applied' }>, playerRef: string) {
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
    if (a.status === 'unattributed' && e.kind !== 'reassign') d.unattributed++
    else if (a.status === 'attributed') {
      if (e.kind === 'registration') d.registrations++
      else if (e.kind === 'ftd') d.ftds++
    }
    if (a.ledger) {
      ledger.push(a.ledger)
      acc.delta.addCommission(d, a.ledger.currency, a.ledger.amount)
    }
  }
  const ledgerRows = ledger.map((l) => JSON.stringify({ ...l, ts: chTime(l.ts) }) + '\n').join('')
  return acc.output({ ledgerRows, players: changed })
}
