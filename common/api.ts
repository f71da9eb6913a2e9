/**
 * The API's shapes, as its clients (the dashboard) see them: camelCase, times as ISO strings
 * where the API writes them so, secrets never. The dashboard imports its types from here and
 * from the vocabulary only, never from a tier's folder or a storage module: where a shape
 * served today is the stored one (an entity as kept in KV), it is named here, so an API shape
 * and its storage can part later without touching the dashboard.
 */
import type { AuditRecord as StoredAuditRecord, ChainCheck } from './audit.js'
import type { Affiliate, Brand, Endpoint, LandingPage, Link, Offer, WindowVersion } from './entities.js'
import type { Money } from './money.js'

export type { Affiliate, Brand, ChainCheck, Endpoint, LandingPage, Link, Offer, WindowVersion }
export type { AttemptView } from './outbound.js'
export type { Deal as DealView, DealTerms } from './deals.js'
/** `GET /api/ledger/verify`: the chain, and the statements' seals (how many were checked) */
export type LedgerCheck = import('./ledger.js').SealCheck & { seals?: number }

/** A line of `GET /api/ledger`: in its affiliate's chain at `no`. */
export type LedgerLineView = import('./ledger.js').ChainedLine & { no: number }

/** An audit record as `GET /api/audit` pages it. */
export type AuditRecord = StoredAuditRecord & { seq: number }

/** A postback source as the API shows it (never its secrets). */
export type SourceView = {
  id: number
  name: string
  auth: 'token' | 'hmac'
  ipAllow: string[]
  fieldMap: Record<string, string>
  eventMap: Record<string, string>
  createdAt: string
  updatedAt?: string
  /** while a rotated-out secret still works */
  previousValidUntil?: string
}

/** A row of `GET /api/events`. */
export type EventLogRow = {
  ts: string
  kind: string
  eventId: string
  status: string
  reason: string
  affiliateId: number
  linkId: number
  offerId: number
  sourceId: number
  clickId: string
  playerRef: string
  amount: string
  currency: string
  sub: Record<string, string>
  details: Record<string, string>
  /** a click's visitor: country, device type, OS, browser, bot flag */
  country: string
  device: string
  os: string
  browser: string
  isBot: boolean
  ip?: string
  ua?: string
  /** a conversion's commission: the ledger lines it caused, summed per currency (empty: none) */
  commission?: Money[]
}

/** A list page. */
export type Items<T> = { items: T[]; next?: string | number }

/** The commission overview: one row per affiliate, deal, period and currency. */
export type CommissionOverviewRow = {
  affiliateId: number
  affiliate: string
  dealId: string
  deal: string
  brandId: number | null
  brand: string | null
  period: string
  currency: string
  /** every line's amount added up: what the period has accrued so far */
  accrued: string
  payable: string
  pending: string
  held: string
  lines: number
}

/** A deal's running RevShare balance: its periods in order, each with the NGR carried in. */
export type RevshareBalance = {
  dealId: string
  deal: string
  currency: string
  carryover: boolean
  periods: { period: string; ngr: string; carriedIn: string; net: string; pays: string; adminFee: string }[]
}

/** An affiliate's earnings, live. */
export type Earnings = {
  affiliateId: number
  asOf: number
  byCurrency: { currency: string; today: string; thisMonth: string; pending: string; held: string }[]
  revshare: RevshareBalance[]
}

/** A player (by pseudonym) in a month: money per currency, and the commission it earned. */
export type PlayerBreakdown = {
  player: string
  money: { currency: string; deposits: string; ggr: string; ngr: string }[]
  commission: { currency: string; amount: string; lines: number }[]
  events: number
}

/** An affiliate's appeal against a finding on its own traffic, and the fraud team's answer (`/api/fraud/appeals`). */
export type Appeal = {
  id: string
  affiliateId: number
  eventId: string
  reason: string
  playerRef: string
  message: string
  at: number
  status: 'open' | 'answered'
  answer?: { decision: 'approve' | 'reject'; note: string; by: string; at: number }
}
