/**
 * The affiliate stage's compute, pure, as a worker task: (books, accrual facts, reference data
 * as plain values) → `ledger_lines` rows, the books' next state, the live commission delta.
 * It runs on the piscina worker threads beside the player stage's tasks, so the event loop
 * that feeds both stages only moves bytes (loads, inserts, saves, acknowledgements).
 */
import { chTime } from '../common/chtime.js'
import { dealFor, type Deal } from '../common/deals.js'
import { FxTable, type FxRate } from '../common/fx.js'
import { historyAt } from '../common/history.js'
import { asDeal, groupHistoryOf, parentHistoryOf, statusHistoryOf, type Affiliate, type StoredDeal } from '../common/entities.js'
import { ledgerAmount } from '../common/money.js'
import { tsvRow } from './rows.js'
import { periodKindOf } from '../common/periods.js'
import { DeltaBuilder, type DeltaRow } from './delta.js'
import type { AccrualFact, AdjustFact, CloseFact, ReviewFact, EngineFact } from './domain/commission/accrual.js'
import { applyFacts, closePeriod, sealStatements, type Books, type NumberedLine, type ProgramBook, type Reference } from './domain/commission/affiliate.js'
import type { Collected, Statement } from '../common/statement.js'

/** Reference data both stages read, as plain values (it crosses to the worker threads). */
export type ReferenceData = {
  deals: Deal[]
  fx: FxRate[]
  /** affiliate id → its parents (recruiter, master IB) over time, each from when; only affiliates that ever had one */
  parents: Record<string, { from: number; parentId: number | null }[]>
  /** affiliate id → its status over time; only affiliates that were ever suspended */
  statuses: Record<string, { from: number; status: 'active' | 'suspended' }[]>
  /** affiliate id → its group over time; only affiliates that were ever in one */
  groups?: Record<string, { from: number; group: string | null }[]>
}

/** The reference data from the entities as the watches hold them now. */
export function referenceData(deals: Iterable<StoredDeal>, fx: Iterable<FxRate>, affiliates: Iterable<Affiliate>): ReferenceData {
  const parents: ReferenceData['parents'] = {}
  const statuses: ReferenceData['statuses'] = {}
  const groups: ReferenceData['groups'] = {}
  for (const a of affiliates) {
    const g = groupHistoryOf(a)
    if (g.some((x) => x.group !== null)) groups[String(a.id)] = g
    const p = parentHistoryOf(a)
    if (p.some((x) => x.parentId !== null)) parents[String(a.id)] = p
    const s = statusHistoryOf(a)
    if (s.some((x) => x.status === 'suspended')) statuses[String(a.id)] = s
  }
  return { deals: [...deals].map(asDeal), fx: [...fx], parents, statuses, groups }
}

/** The affiliate stage's view of the reference data. The FX table is built when first asked for. */
export function referenceOf(d: ReferenceData): Reference {
  const byId = new Map(d.deals.map((x) => [x.id, x]))
  let fx: FxTable | undefined
  const groupOf = (id: number, at: number) => {
    const h = d.groups?.[String(id)]
    return h ? (historyAt(h, at)?.group ?? undefined) : undefined
  }
  return {
    deal: (id) => byId.get(id),
    get fx() {
      return (fx ??= new FxTable(d.fx))
    },
    parentOf: (id, at) => {
      const h = d.parents[String(id)]
      return h ? (historyAt(h, at)?.parentId ?? undefined) : undefined
    },
    suspended: (id, at) => {
      const h = d.statuses[String(id)]
      return h ? historyAt(h, at)?.status === 'suspended' : false
    },
    groupOf,
    ownDeal: (id, at) => dealFor(d.deals, { affiliateId: id, group: groupOf(id, at), at }),
  }
}

export type AffiliateTask = {
  kind: 'affiliate'
  facts: EngineFact[]
  /** per fact, the ACCRUALS message it came in */
  accSeq: number[]
  books: Books
  /** the program's closes so far: a fact of a closed period is booked in the open one */
  program: ProgramBook
  ref: ReferenceData
}

export type AffiliateTaskOutput = {
  /** `ledger_lines` rows, JSONEachRow */
  rows: string
  lines: number
  books: Books
  delta: DeltaRow[]
}

export function computeAffiliate(t: AffiliateTask): AffiliateTaskOutput {
  const out = applyFacts(t.books, t.facts, referenceOf(t.ref), t.program)
  // a line's ACCRUALS message is its fact's: the fact it was written for has its cause
  // position (a sub-affiliate share carries the position of the fact that paid the line below)
  const seqOf = new Map<string, number>()
  t.facts.forEach((f, i) => seqOf.set(`${f.seq}:${f.idx}:${f.n}`, t.accSeq[i]!))
  return { ...linesOut(out.lines, (l) => seqOf.get(`${l.seq}:${l.idx}:${l.n}`) ?? t.accSeq[0]!), books: out.books }
}

/** Lines as `ledger_lines` rows, and what they pay, live: per affiliate and minute the event happened in. */
function linesOut(lines: NumberedLine[], accSeq: (l: NumberedLine) => number): { rows: string; lines: number; delta: DeltaRow[] } {
  let rows = ''
  const delta = new DeltaBuilder()
  for (const l of lines) {
    rows += lineRow(l, accSeq(l))
    delta.addCommission(delta.row(l.affiliateId, l.occurredAt), l.currency, l.amount)
  }
  return { rows, lines: lines.length, delta: delta.rows() }
}

/** A close, in two steps around the SQL that collects what it takes (affiliate-stage.ts):
 *  `finalise` (phase 1 over every affiliate's books), then `seal` (statements, rounding lines). */
export type CloseTask = {
  kind: 'close'
  step: 'finalise' | 'seal'
  close: CloseFact
  /** the ACCRUALS message of the close */
  accSeq: number
  books: Books
  program: ProgramBook
  ref: ReferenceData
  /** seal: what the close took of each affiliate's chain */
  collected?: Record<string, Collected>
}

export type CloseTaskOutput = {
  rows: string
  lines: number
  books: Books
  program: ProgramBook
  delta: DeltaRow[]
  /** finalise: false when the period was closed already (the close delivered again) */
  applied: boolean
  statements: Statement[]
  /** seal: the statements' rows of `statements`, `statement_lines` and `statement_totals` */
  statementRows?: { statements: string; lines: string; totals: string }
}

export function computeClose(t: CloseTask): CloseTaskOutput {
  const ref = referenceOf(t.ref)
  if (t.step === 'finalise') {
    const out = closePeriod(t.books, t.program, t.close, ref)
    return { ...linesOut(out.lines, () => t.accSeq), books: out.books, program: out.program, applied: out.applied, statements: [] }
  }
  const previous = (aff: number) => t.books[String(aff)]?.closes
  const out = sealStatements(t.books, t.program, t.close, ref, (aff) => t.collected?.[String(aff)])
  return {
    ...linesOut(out.lines, () => t.accSeq),
    books: out.books,
    program: out.program,
    applied: true,
    statements: out.statements,
    statementRows: statementRows(out.statements, t.close, t.accSeq, previous),
  }
}

export const STATEMENT_COLUMNS = [
  'affiliate_id',
  'period',
  'close_id',
  'as_of',
  'acc_seq',
  'rounding',
  'seal_no',
  'seal_hash',
  'prev_period',
  'prev_as_of',
  'prev_no',
] as const
export const STATEMENT_LINE_COLUMNS = ['affiliate_id', 'period', 'kind', 'deal_id', 'deal_version', 'currency', 'lines', 'exact', 'amount'] as const
export const STATEMENT_TOTAL_COLUMNS = [
  'affiliate_id',
  'period',
  'currency',
  'carried_in',
  'lines',
  'total',
  'payable',
  'carried_out',
  'pending',
  'held',
] as const

/** A close's statements as rows of its three tables (TabSeparated). `previous`: each affiliate's closes before this one. */
export function statementRows(
  statements: readonly Statement[],
  close: CloseFact,
  accSeq: number,
  previous: (aff: number) => Books[string]['closes'],
): { statements: string; lines: string; totals: string } {
  const kind = periodKindOf(close.period)!
  let st = ''
  let lines = ''
  let totals = ''
  for (const s of statements) {
    const prev = previous(s.affiliateId)?.[kind]
    st += tsvRow(STATEMENT_COLUMNS, {
      affiliate_id: s.affiliateId,
      period: s.period,
      close_id: close.closeId,
      as_of: chTime(close.asOf),
      acc_seq: accSeq,
      rounding: close.rounding,
      seal_no: s.seal.no,
      seal_hash: s.seal.hash,
      prev_period: prev?.period ?? '',
      prev_as_of: chTime(prev?.asOf ?? 0),
      prev_no: prev?.no ?? 0,
    })
    for (const l of s.lines)
      lines += tsvRow(STATEMENT_LINE_COLUMNS, {
        affiliate_id: s.affiliateId,
        period: s.period,
        kind: l.kind,
        deal_id: l.dealId,
        deal_version: l.dealVersion,
        currency: l.currency,
        lines: l.lines,
        exact: ledgerAmount(l.exact),
        amount: ledgerAmount(l.amount),
      })
    for (const x of s.totals)
      totals += tsvRow(STATEMENT_TOTAL_COLUMNS, {
        affiliate_id: s.affiliateId,
        period: s.period,
        currency: x.currency,
        carried_in: ledgerAmount(x.carriedIn),
        lines: ledgerAmount(x.lines),
        total: ledgerAmount(x.total),
        payable: ledgerAmount(x.payable),
        carried_out: ledgerAmount(x.carriedOut),
        pending: ledgerAmount(x.pending),
        held: ledgerAmount(x.held),
      })
  }
  return { statements: st, lines, totals }
}

/** The columns of a `ledger_lines` row, in the order lineRow writes them. */
export const LINE_COLUMNS = [
  'affiliate_id',
  'no',
  'line_id',
  'kind',
  'status',
  'period',
  'occurred_at',
  'payable_at',
  'deal_id',
  'deal_version',
  'player_key',
  'player_ref',
  'cause_event_id',
  'original_amount',
  'original_currency',
  'amount',
  'currency',
  'fx_rate',
  'fx_date',
  'ref_line_id',
  'estimated',
  'reason',
  'stream_seq',
  'stream_idx',
  'fact_n',
  'acc_seq',
  'prev_hash',
  'hash',
] as const

/** How lineRow's rows are inserted (with insertFormatted: the body and token added). */
export const LINES_INSERT = { table: 'ledger_lines', columns: LINE_COLUMNS, format: 'TabSeparated' } as const

/** A line as a `ledger_lines` row (TabSeparated, LINE_COLUMNS); `accSeq`: the ACCRUALS message of its fact. */
export function lineRow(l: NumberedLine, accSeq: number): string {
  return tsvRow(LINE_COLUMNS, {
    affiliate_id: l.affiliateId,
    no: l.no,
    line_id: l.id,
    kind: l.kind,
    status: l.status,
    period: l.period,
    occurred_at: chTime(l.occurredAt),
    payable_at: l.payableAt === undefined ? null : chTime(l.payableAt),
    deal_id: l.dealId,
    deal_version: l.dealVersion,
    player_key: l.playerKey,
    player_ref: l.playerRef,
    cause_event_id: l.causeEventId,
    original_amount: ledgerAmount(l.originalAmount),
    original_currency: l.originalCurrency,
    amount: ledgerAmount(l.amount),
    currency: l.currency,
    fx_rate: ledgerAmount(l.fxRate),
    fx_date: l.fxDate,
    ref_line_id: l.refLineId ?? '',
    estimated: l.estimated ? 1 : 0,
    reason: l.reason,
    stream_seq: l.seq,
    stream_idx: l.idx,
    fact_n: l.n,
    acc_seq: accSeq,
    prev_hash: l.prevHash,
    hash: l.hash,
  })
}
