/** The API's shapes, as the management views use them: the API's own types (common/api.ts,
 *  type-only imports, erased from the bundle) and its vocabulary (a module without
 *  dependencies). Nothing here comes from a tier's folder or a storage module. */
import type { AttemptView, Brand, EventLogRow, SourceView } from '../../../common/api'
import { CONVERSION_KINDS, SUB_IDS } from '../../../common/vocabulary'

export type { Affiliate, AuditRecord, Brand, ChainCheck, CommissionOverviewRow, DealTerms, Earnings, PlayerBreakdown, RevshareBalance, DealView, Endpoint, Items, LandingPage, LedgerCheck, LedgerLineView, Link, Offer } from '../../../common/api'
export type Status = Brand['status']
export type SubId = (typeof SUB_IDS)[number]
export type Subs = Partial<Record<SubId, string>>
export type Source = SourceView
export type Attempt = AttemptView
export type EventRow = EventLogRow

export { AUDIT_ENTITIES, CONVERSION_KINDS, EVENT_STATUSES, OUTBOUND_MACROS, SUB_IDS } from '../../../common/vocabulary'
export const EVENT_KINDS = ['click', ...CONVERSION_KINDS, 'reassign'] as const
