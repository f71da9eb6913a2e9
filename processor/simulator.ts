/**
 * The commission simulator: a scenario (program, FX rates, affiliates and their parents,
 * deals, timed events) run through the same pure functions as the running system's two
 * stages, in process, with no NATS and no ClickHouse. Prints the ledger lines and the totals
 * per affiliate and period as one JSON document. Operators use it for what-ifs; the tests use
 * it to hold every worked example of the commission rules.
 *
 * The scenario format is described in the README ("Commission simulator").
 */
import { createHash } from 'node:crypto'
import { z } from 'zod'
import { DealTermsSchema, GroupNameSchema, type Deal } from '../common/deals.js'
import { playerStateKey } from '../common/keys.js'
import { CONVERSION_KINDS, DETAIL_FIELDS } from '../common/events.js'
import { AmountSchema, D, roundMinor, StoredCurrencySchema, type Rounding } from '../common/money.js'
import type { AccrualFact, AdjustFact, CloseFact, ReviewFact, StageFact, EngineFact } from './domain/commission/accrual.js'
import {
  applyFacts,
  closePeriod,
  emptyProgram,
  sealStatements,
  type Books,
  type NumberedLine,
  type ProgramBook,
  type Reference,
} from './domain/commission/affiliate.js'
import { periodKindOf, PeriodSchema } from '../common/periods.js'
import { collect, type Statement } from '../common/statement.js'
import { referenceOf, type ReferenceData } from './affiliate-compute.js'
import { FxRateSchema, FxTable } from '../common/fx.js'
import { PLAYER_STATUSES, playerMoney, type MoneyEvent, type PlayerMoney } from './domain/commission/player.js'
import { DETAIL_FACTS } from './domain/facts.js'

/** A time: an ISO 8601 instant, or a day (its midnight UTC). */
const Time = z
  .string()
  .refine((s) => {
    const t = Date.parse(s.length === 10 ? `${s}T00:00:00Z` : s)
    // a real calendar day (Date.parse takes 2026-02-30 as March 2), with a zone when it has a time
    return (
      /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/.test(s) &&
      !Number.isNaN(t) &&
      (s.length > 10 || new Date(t).toISOString().startsWith(s))
    )
  }, 'must be a day (2026-03-04) or an ISO 8601 time with a zone (2026-03-04T10:00:00Z)')
  .transform((s) => Date.parse(s.length === 10 ? `${s}T00:00:00Z` : s))

const Id = z.number().int().positive()

const EventEntry = z
  .object({
    at: Time,
    kind: z.enum(CONVERSION_KINDS),
    player: z.string().min(1),
    /** binds the player to this affiliate (the first event that names one; later ones are ignored) */
    affiliate: z.number().int().nonnegative().optional(),
    brand: Id.optional(),
    country: z
      .string()
      .regex(/^[A-Z]{2}$/)
      .optional(),
    /** the event's id; default e<its index> */
    id: z.string().min(1).optional(),
    amount: AmountSchema.optional(),
    currency: StoredCurrencySchema.optional(),
    details: z
      .partialRecord(z.enum(DETAIL_FIELDS), z.string())
      .superRefine((d, ctx) => {
        for (const f of DETAIL_FACTS)
          if (d[f] !== undefined && !AmountSchema.safeParse(d[f]).success)
            ctx.addIssue({ code: 'custom', path: [f], message: 'must be a decimal number with at most 12 decimals, e.g. 100.00' })
      })
      .optional(),
    status: z.enum(PLAYER_STATUSES).optional(),
    /** the fraud rules' decision on this event (the running system's rules make it; here it is
     *  given): what the player earns from this event on is held, or rejected, until reviewed */
    fraud: z
      .object({ action: z.enum(['hold', 'reject']), reasons: z.string().min(1) })
      .strict()
      .optional(),
  })
  .strict()
  .refine((e) => e.kind !== 'player_status' || e.status !== undefined || e.details?.status !== undefined, 'a player_status event needs a status')

/** Finance's manual adjustment of an affiliate's balance among the events, at its time. */
const AdjustEntry = z
  .object({
    at: Time,
    adjust: z
      .object({
        affiliate: Id,
        amount: AmountSchema,
        currency: StoredCurrencySchema,
        reason: z.string().min(1),
        /** its id (default adj<its index>) */
        id: z
          .string()
          .regex(/^[A-Za-z0-9._-]{1,64}$/)
          .optional(),
      })
      .strict(),
  })
  .strict()

/** A period close among the events: a month (2026-03) or an ISO week (2026-W10), at its time. */
const CloseEntry = z
  .object({
    at: Time,
    close: PeriodSchema,
  })
  .strict()

/** A fraud review's decision on a player's held money, at its time. */
const ReviewEntry = z
  .object({
    at: Time,
    review: z
      .object({ affiliate: Id, player: z.string().min(1), decision: z.enum(['approve', 'reject']), note: z.string().min(1), id: z.string().min(1).optional() })
      .strict(),
  })
  .strict()

export const ScenarioSchema = z
  .object({
    name: z.string().optional(),
    description: z.string().optional(),
    program: z
      .object({
        currency: StoredCurrencySchema,
        rounding: z.enum(['half_even', 'half_up', 'down']).default('half_even'),
        /** the smallest payment per currency: a smaller statement total is carried to the next */
        paymentThreshold: z.record(StoredCurrencySchema, AmountSchema).optional(),
      })
      .strict(),
    fx: z.array(FxRateSchema).default([]),
    affiliates: z
      .array(
        z
          .object({
            id: Id,
            name: z.string().optional(),
            /** the recruiter (sub-affiliate parent, or master IB) for all time */
            parentId: Id.optional(),
            /** or as it changed: each entry applies from its time (null: no parent from then) */
            parents: z.array(z.object({ parentId: Id.nullable(), from: Time }).strict()).optional(),
            /** suspensions: each status applies from its time (what a suspended affiliate earns is held) */
            status: z.array(z.object({ status: z.enum(['active', 'suspended']), from: Time }).strict()).optional(),
            /** the group it is in for all time (deals for the group apply to it) */
            group: GroupNameSchema.optional(),
            /** or as it changed: each entry applies from its time (null: in no group from then) */
            groups: z.array(z.object({ group: GroupNameSchema.nullable(), from: Time }).strict()).optional(),
          })
          .strict(),
      )
      .default([]),
    deals: z.array(
      z
        .object({
          id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, dot, dash and underscore (it is part of ledger line ids)'),
          name: z.string().optional(),
          /** for one affiliate, or for every affiliate in a group */
          affiliateId: Id.optional(),
          group: GroupNameSchema.optional(),
          brandId: Id.optional(),
          country: z
            .string()
            .regex(/^[A-Z]{2}$/)
            .optional(),
          versions: z.array(z.object({ effectiveFrom: Time, terms: DealTermsSchema }).strict()).min(1),
        })
        .strict()
        .refine((d) => (d.affiliateId === undefined) !== (d.group === undefined), {
          message: 'a deal is for one affiliate (affiliateId) or one group (group), not both',
          path: ['affiliateId'],
        }),
    ),
    /** the events in the order they arrive, and the period closes among them (`{ "at", "close": "2026-03" }`) */
    events: z.array(z.unknown()).transform((items, ctx) =>
      items.flatMap((item, i) => {
        const schema =
          item !== null && typeof item === 'object' && 'close' in item
            ? CloseEntry
            : item !== null && typeof item === 'object' && 'adjust' in item
              ? AdjustEntry
              : item !== null && typeof item === 'object' && 'review' in item
                ? ReviewEntry
                : EventEntry
        const r = schema.safeParse(item)
        if (r.success) return [r.data]
        for (const issue of r.error.issues) ctx.addIssue({ ...issue, code: 'custom', path: [i, ...issue.path] } as never)
        return []
      }),
    ),
    /** the periods to total (default: every period a line falls in) */
    periods: z.array(z.string()).optional(),
    /** what a test checks: totals per affiliate and period (program currency, rounded per statement line) */
    expect: z.record(z.string(), z.record(z.string(), z.string())).optional(),
    /** and per affiliate and closed period, its statement's totals in the program currency */
    expectStatements: z
      .record(
        z.string(),
        z.record(
          z.string(),
          z
            .object({
              carriedIn: z.string(),
              lines: z.string(),
              total: z.string(),
              payable: z.string(),
              carriedOut: z.string(),
              pending: z.string(),
              held: z.string(),
            })
            .partial()
            .strict(),
        ),
      )
      .optional(),
  })
  .strict()
export type Scenario = z.output<typeof ScenarioSchema>
export type ScenarioInput = z.input<typeof ScenarioSchema>

export type PeriodTotal = {
  currency: string
  /** per statement line (kind), full precision and rounded once */
  lines: Record<string, { amount: string; rounded: string }>
  /** the sum of the rounded lines */
  total: string
  /** of which still in a hold / held for review */
  pending: string
  held: string
}

export type SimulationResult = {
  name?: string
  lines: NumberedLine[]
  /** per affiliate, per period: what its lines accrued (rounding lines of the closes left out) */
  totals: Record<string, Record<string, PeriodTotal>>
  /** the statements of the scenario's closes, in the order they were made */
  statements: Statement[]
  /** each affiliate's chain head */
  heads: Record<string, string>
  /** sha256 over every line's hash in order: two runs wrote the same ledger iff equal */
  ledgerHash: string
  /** events that settled nothing a person should know of, e.g. a CPA window that expired */
  notes: { eventId: string; note: string }[]
}

/** The player stage over the scenario's events: the accrual facts and closes, in cause order. */
export function scenarioFacts(s: Scenario): { facts: StageFact[]; notes: SimulationResult['notes']; ref: Reference } {
  const ref = reference(s)
  const deals = s.deals.map(toDeal)
  const bound = new Map<string, { affiliateId: number; brandId?: number; country?: string }>()
  const money = new Map<string, PlayerMoney>()
  const marks = new Map<string, { action: 'hold' | 'reject'; reasons: string; at: number }>()
  const facts: StageFact[] = []
  const notes: SimulationResult['notes'] = []
  s.events.forEach((e, i) => {
    if ('close' in e) {
      facts.push(closeFact(s, e, i + 1))
      return
    }
    if ('adjust' in e) {
      const a = e.adjust
      facts.push({
        type: 'adjust',
        seq: i + 1,
        idx: 0,
        n: 0,
        id: a.id ?? `adj${i + 1}`,
        affiliateId: a.affiliate,
        amount: a.amount,
        currency: a.currency,
        reason: a.reason,
        by: 'operator',
        occurredAt: e.at,
      })
      return
    }
    if ('review' in e) {
      const r = e.review
      facts.push({
        type: 'review',
        seq: i + 1,
        idx: 0,
        n: 0,
        id: r.id ?? `rv${i + 1}`,
        affiliateId: r.affiliate,
        playerKey: playerStateKey({ playerId: r.player, id: '' }),
        playerRef: r.player,
        decision: r.decision,
        note: r.note,
        by: 'fraud team',
        occurredAt: e.at,
      })
      return
    }
    const id = e.id ?? `e${i + 1}`
    // a new mark: what the player earned that is still in its hold moves to review (as the player stage sends it)
    let n0 = 0
    if (e.fraud && !marks.has(e.player)) {
      marks.set(e.player, { ...e.fraud, at: e.at })
      const b0 = bound.get(e.player)
      if (b0)
        facts.push({
          type: 'mark',
          seq: i + 1,
          idx: 0,
          n: n0++,
          affiliateId: b0.affiliateId,
          playerKey: playerStateKey({ playerId: e.player, id }),
          playerRef: e.player,
          eventId: id,
          occurredAt: e.at,
          action: e.fraud.action,
          reasons: e.fraud.reasons,
        })
    }
    if (!bound.has(e.player)) bound.set(e.player, { affiliateId: e.affiliate ?? 0, brandId: e.brand, country: e.country })
    const b = bound.get(e.player)!
    const ev: MoneyEvent = {
      kind: e.kind,
      id,
      amount: e.amount,
      currency: e.currency,
      details: e.kind === 'player_status' ? { ...e.details, status: e.status ?? e.details?.status } : e.details,
    }
    const out = playerMoney(money.get(e.player) ?? {}, ev, {
      affiliateId: b.affiliateId,
      // the running system's key for the player, so both write the same ids and hashes
      playerKey: playerStateKey({ playerId: e.player, id }),
      playerRef: e.player,
      seq: i + 1,
      idx: 0,
      n0,
      occurredAt: e.at,
      brandId: b.brandId,
      country: b.country,
      deals,
      fx: ref.fx,
      parentOf: ref.parentOf,
      groupOf: ref.groupOf,
    })
    money.set(e.player, out.next)
    const mark = marks.get(e.player)
    facts.push(...(mark ? out.facts.map((f) => ({ ...f, fraud: mark })) : out.facts))
    if (out.note) notes.push({ eventId: id, note: out.note })
  })
  return { facts, notes, ref }
}

/** A scenario's close entry as the close fact the running system would forward. */
function closeFact(s: Scenario, e: { at: number; close: string }, seq: number): CloseFact {
  return {
    type: 'close',
    seq,
    idx: 0,
    n: 0,
    closeId: `close:${e.close}`,
    period: e.close,
    asOf: e.at,
    rounding: s.program.rounding,
    ...(s.program.paymentThreshold ? { threshold: s.program.paymentThreshold } : {}),
  }
}

/**
 * The affiliate stage in process: accrual facts applied, and a close closed where it stands
 * among them, its statements taken from the chains so far (the running stage does the same,
 * collecting in SQL: clickhouse/statements.ts). Facts and closes delivered again write nothing.
 */
export class InProcessStage {
  books: Books = {}
  program: ProgramBook = emptyProgram()
  readonly lines: NumberedLine[] = []
  readonly statements: Statement[] = []
  readonly #chains = new Map<number, NumberedLine[]>()

  constructor(private readonly ref: Reference) {}

  /** Apply a batch; returns the lines it wrote. */
  apply(facts: readonly StageFact[]): NumberedLine[] {
    const out: NumberedLine[] = []
    let run: EngineFact[] = []
    const flush = () => {
      if (run.length > 0) this.#take(applyFacts(this.books, run, this.ref, this.program), out)
      run = []
    }
    for (const f of facts) {
      if (f.type !== 'close') {
        run.push(f)
        continue
      }
      flush()
      this.#close(f, out)
    }
    flush()
    return out
  }

  #take(r: { lines: NumberedLine[]; books: Books; program: ProgramBook }, out: NumberedLine[]) {
    this.books = r.books
    this.program = r.program
    for (const l of r.lines) {
      out.push(l)
      this.lines.push(l)
      const c = this.#chains.get(l.affiliateId) ?? []
      c.push(l)
      this.#chains.set(l.affiliateId, c)
    }
  }

  #close(c: CloseFact, out: NumberedLine[]) {
    const phase1 = closePeriod(this.books, this.program, c, this.ref)
    if (!phase1.applied) return
    this.#take(phase1, out)
    const kind = periodKindOf(c.period)!
    const sealed = sealStatements(this.books, this.program, c, this.ref, (aff) =>
      collect(this.#chains.get(aff) ?? [], { period: c.period, asOf: c.asOf, previous: this.books[String(aff)]?.closes?.[kind] }),
    )
    this.#take(sealed, out)
    this.statements.push(...sealed.statements)
  }
}

/** Run a scenario; `batches` splits the facts into batches of these sizes (the rest in one), as the running system might. */
export function simulate(s: Scenario, o: { batches?: number[] } = {}): SimulationResult {
  const { facts, notes, ref } = scenarioFacts(s)
  const stage = new InProcessStage(ref)
  let at = 0
  for (const size of [...(o.batches ?? []), Infinity]) {
    if (at >= facts.length) break
    stage.apply(facts.slice(at, at + size))
    at += size
  }
  return summarise(s, stage.lines, stage.books, notes, stage.statements)
}

export function summarise(
  s: Scenario,
  lines: NumberedLine[],
  books: Books,
  notes: SimulationResult['notes'] = [],
  statements: Statement[] = [],
): SimulationResult {
  const rounding = s.program.rounding as Rounding
  const sums = new Map<string, Map<string, { currency: string; kinds: Map<string, D>; pending: D; held: D }>>()
  for (const l of lines) {
    if ((s.periods && !s.periods.includes(l.period)) || l.kind === 'rounding') continue
    const a = sums.get(String(l.affiliateId)) ?? new Map()
    sums.set(String(l.affiliateId), a)
    const p = a.get(l.period) ?? { currency: l.currency, kinds: new Map(), pending: new D(0), held: new D(0) }
    a.set(l.period, p)
    if (p.currency !== l.currency)
      throw new Error(`affiliate ${l.affiliateId} has lines in ${p.currency} and ${l.currency} in ${l.period}: one program currency per affiliate`)
    p.kinds.set(l.kind, (p.kinds.get(l.kind) ?? new D(0)).plus(l.amount))
    if (l.status === 'pending') p.pending = p.pending.plus(l.amount)
    if (l.status === 'held') p.held = p.held.plus(l.amount)
  }
  const totals: SimulationResult['totals'] = {}
  for (const [aff, periods] of [...sums].sort(([a], [b]) => Number(a) - Number(b))) {
    totals[aff] = {}
    for (const [period, p] of [...periods].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const out: PeriodTotal = {
        currency: p.currency,
        lines: {},
        total: '0',
        pending: roundMinor(p.pending, p.currency, rounding),
        held: roundMinor(p.held, p.currency, rounding),
      }
      let total = new D(0)
      for (const [k, v] of [...p.kinds].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        const rounded = roundMinor(v, p.currency, rounding)
        out.lines[k] = { amount: v.toFixed(), rounded }
        total = total.plus(rounded)
      }
      out.total = roundMinor(total, p.currency, rounding)
      totals[aff]![period] = out
    }
  }
  const heads: Record<string, string> = {}
  for (const [aff, b] of Object.entries(books).sort(([a], [b]) => Number(a) - Number(b))) if (b.lines > 0) heads[aff] = b.head
  const h = createHash('sha256')
  for (const l of lines) h.update(l.hash)
  return { name: s.name, lines, totals, statements, heads, ledgerHash: h.digest('hex'), notes }
}

function toDeal(d: Scenario['deals'][number]): Deal {
  return {
    id: d.id,
    name: d.name ?? d.id,
    affiliateId: d.affiliateId,
    group: d.group,
    brandId: d.brandId,
    country: d.country,
    versions: [...d.versions]
      .sort((a, b) => a.effectiveFrom - b.effectiveFrom)
      .map((v, i) => ({ version: i + 1, effectiveFrom: v.effectiveFrom, createdAt: 0, terms: v.terms })),
  }
}

/** The scenario's reference data (deals, FX, each affiliate's parents, statuses and groups as
 *  of a time), read as the running system reads its own (affiliate-compute.ts referenceOf). */
export function referenceData(s: Scenario): ReferenceData {
  // a scenario's history says what holds from each time on; before its first entry, nothing
  const timeline = <T extends { from: number }>(before: T, changes: T[]): T[] => [before, ...[...changes].sort((x, y) => x.from - y.from)]
  const parents: ReferenceData['parents'] = {}
  const statuses: ReferenceData['statuses'] = {}
  const groups: NonNullable<ReferenceData['groups']> = {}
  for (const a of s.affiliates) {
    const id = String(a.id)
    if (a.parents) parents[id] = timeline({ from: -Infinity, parentId: null }, a.parents)
    else if (a.parentId !== undefined) parents[id] = [{ from: -Infinity, parentId: a.parentId }]
    if (a.status) statuses[id] = timeline({ from: -Infinity, status: 'active' }, a.status)
    if (a.groups) groups[id] = timeline({ from: -Infinity, group: null }, a.groups)
    else if (a.group !== undefined) groups[id] = [{ from: -Infinity, group: a.group }]
  }
  return { deals: s.deals.map(toDeal), fx: s.fx, parents, statuses, groups }
}

export function reference(s: Scenario): Reference {
  return referenceOf(referenceData(s))
}
