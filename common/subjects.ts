/**
 * Names on the bus. The event stream is the system of record; subjects carry a fixed
 * partition derived from the key that orders the event (the player for conversions, the
 * click for clicks), so per-key order and one owner per partition need no migration later.
 */
export const EVENTS_STREAM = 'EVENTS'
export const DLQ_STREAM = 'DEADLETTER'
/** outbound postbacks to deliver: one message per (event, endpoint), removed once acknowledged */
export const DELIVERY_STREAM = 'DELIVERIES'
export const deliverySubject = (endpointId: number) => `delivery.${endpointId}`
/** the hash-chained audit log of entity changes: audit.<entity> */
export const AUDIT_STREAM = 'AUDIT'
export const LIVE_DELTA_SUBJECT = 'live.delta'
/** what the fraud rules found, per processed batch (the fraud view's feed) */
export const LIVE_FRAUD_SUBJECT = 'live.fraud'
/** request-reply: a commission scenario (the simulator's format) run by the processor tier */
export const SIMULATE_SUBJECT = 'commission.simulate'
/** accrual facts from the player stage to the affiliate stage: acc.<affiliate partition> */
export const ACCRUALS_STREAM = 'ACCRUALS'
export const accrualSubject = (partition: number) => `acc.${partition}`

export const BUCKETS = {
  affiliates: 'affiliates',
  links: 'links',
  deals: 'deals',
  sources: 'sources',
  /** affiliates' outbound postback endpoints */
  endpoints: 'endpoints',
  /** FX rates per day (from.to.date), write-once */
  fx: 'fx_rates',
  /** brands (the operator's sites or products) */
  brands: 'brands',
  /** offers (campaigns): destination, deep-link allow-list */
  offers: 'offers',
  /** the fraud rules' settings, every version kept */
  fraud: 'fraud_settings',
  /** players per address, device and payment method (the multi-accounting rules) */
  fraudKeys: 'fraud_keys',
  /** affiliates' appeals against fraud findings, and their answers */
  appeals: 'fraud_appeals',
  counters: 'counters',
  /** postback idempotency: event id → content hash and first answer */
  postbacks: 'postback_ids',
  /** per-player processing state (attribution binding, FTD/CPA flags) */
  players: 'players',
  /** the affiliate stage's books: per affiliate (a.<id>) and per affiliate and player (p.<id>.<key hash>) */
  books: 'books',
  /** per-consumer progress: applied high-water mark and the batch in flight */
  progress: 'processor_progress',
  /** which payout batch claimed each statement (period, currency, affiliate): one batch each */
  payouts: 'payout_claims',
} as const

export function eventSubject(partition: number, kind: string): string {
  return `ev.${partition}.${kind}`
}

export function parseEventSubject(subject: string): { partition: number; kind: string } | undefined {
  const m = /^ev\.(\d+)\.([a-z_]+)$/.exec(subject)
  if (!m) return undefined
  return { partition: Number(m[1]), kind: m[2]! }
}

export function dlqSubject(kind: string): string {
  return `dlq.${kind}`
}

/** Partition routing lives with the ordering keys. */
export { fnv1a, partitionOf } from './keys.js'
