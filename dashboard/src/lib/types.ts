/** The API's entity shapes, as the management views use them. */
export type Status = 'active' | 'paused'
export type Brand = { id: number; name: string; url?: string; status: Status; createdAt: number }
export type LandingPage = { id: string; name: string; url: string }
export type Offer = {
  id: number
  name: string
  brandId: number
  destination: string
  deepLinkHosts: string[]
  landingPages: LandingPage[]
  markets: string[]
  attributionWindowDays?: number
  status: Status
  createdAt: number
}
export type Affiliate = { id: number; name: string; email?: string; manager?: string; parentId?: number; status: 'active' | 'suspended'; createdAt: number }
export const SUB_IDS = ['sub1', 'sub2', 'sub3', 'sub4', 'sub5'] as const
export type SubId = (typeof SUB_IDS)[number]
export type Subs = Partial<Record<SubId, string>>
export type Link = {
  id: number
  code: string
  affiliateId: number
  offerId: number
  destination: string
  landingPageId?: string
  subs?: Subs
  markets?: string[]
  geo?: { outside: 'block' | 'redirect'; redirectUrl?: string }
  status: Status
  createdAt: number
}
export type Source = {
  id: number
  name: string
  auth: 'token' | 'hmac'
  ipAllow: string[]
  fieldMap: Record<string, string>
  eventMap: Record<string, string>
  createdAt: string
}
export type Endpoint = { id: number; affiliateId: number; events: string[]; url: string; status: Status; createdAt: number }
export type Attempt = {
  deliveryId: string
  eventId: string
  kind: string
  endpointId: number
  affiliateId: number
  attempt: number
  ts: string
  url: string
  statusCode: number
  error: string
  durationMs: number
  outcome: string
}
export type EventRow = {
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
  country: string
  device: string
  os: string
  browser: string
  isBot: boolean
  ip?: string
  ua?: string
}
export type AuditRecord = {
  seq: number
  at: number
  by: string
  entity: string
  key: string
  action: 'create' | 'update' | 'delete'
  before?: unknown
  after?: unknown
  note?: string
  prev: string
  hash: string
}
export type ChainCheck = { ok: true; records: number; head: string } | { ok: false; records: number; seq: number; problem: string }
export type Items<T> = { items: T[]; next?: string | number }

export const CONVERSION_KINDS = [
  'registration',
  'ftd',
  'deposit',
  'withdrawal',
  'activity',
  'trade',
  'challenge_purchase',
  'challenge_reset',
  'challenge_refund',
  'challenge_funded',
  'chargeback',
  'refund',
] as const
export const EVENT_KINDS = ['click', ...CONVERSION_KINDS, 'reassign'] as const
export const EVENT_STATUSES = ['valid', 'attributed', 'unattributed', 'duplicate', 'parked', 'blocked'] as const
export const OUTBOUND_MACROS = [
  'click_id',
  'event',
  'event_id',
  'amount',
  'currency',
  'player',
  'affiliate_id',
  'offer_id',
  'ts',
  'sub1',
  'sub2',
  'sub3',
  'sub4',
  'sub5',
] as const
export const AUDIT_ENTITIES = ['brand', 'offer', 'affiliate', 'link', 'source', 'endpoint', 'deal', 'player'] as const
