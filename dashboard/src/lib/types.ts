/** The API's shapes, as the management views use them: the server's own types (type-only
 *  imports, erased from the bundle) and its vocabulary (a module without dependencies). */
import type { AuditRecord as StoredAuditRecord, ChainCheck } from '../../../common/audit'
import type { Affiliate, Brand, Endpoint, LandingPage as StoredLandingPage, Link, Offer } from '../../../common/entities'
import type { EventLogRow } from '../../../query-api/eventlog'
import type { AttemptView } from '../../../query-api/outbound'
import { CONVERSION_KINDS, SUB_IDS } from '../../../common/vocabulary'

export type { Affiliate, Brand, ChainCheck, Endpoint, Link, Offer }
export type Status = Brand['status']
export type LandingPage = StoredLandingPage
export type SubId = (typeof SUB_IDS)[number]
export type Subs = Partial<Record<SubId, string>>
/** A source as the API shows it (never its secrets). */
export type Source = {
  id: number
  name: string
  auth: 'token' | 'hmac'
  ipAllow: string[]
  fieldMap: Record<string, string>
  eventMap: Record<string, string>
  createdAt: string
  updatedAt?: string
  /** while a rotated-out secret still works: until when (ISO) */
  previousValidUntil?: string
}
export type Attempt = AttemptView
export type EventRow = EventLogRow
export type AuditRecord = StoredAuditRecord & { seq: number }
export type Items<T> = { items: T[]; next?: string | number }

export { AUDIT_ENTITIES, CONVERSION_KINDS, EVENT_STATUSES, OUTBOUND_MACROS, SUB_IDS } from '../../../common/vocabulary'
export const EVENT_KINDS = ['click', ...CONVERSION_KINDS, 'reassign'] as const
