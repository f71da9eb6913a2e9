/**
 * Event contracts: what travels on the event stream. Storage shapes (ClickHouse rows)
 * live with the processor; API shapes live with the tiers that serve them.
 *
 * A stream message body is NDJSON: one or more events of the subject's kind. Clicks are
 * group-committed many to a message (one publish per flush is what makes a tracked
 * redirect cheap); a postback is one event per message, published with its idempotency
 * key as Nats-Msg-Id.
 */
import { z } from 'zod'
import { AmountSchema, StoredCurrencySchema } from './money.js'

import { CONVERSION_KINDS, DETAIL_FIELDS, POSTBACK_MAIN_FIELDS, SUB_IDS } from './vocabulary.js'

export { CONVERSION_KINDS, DETAIL_FIELDS, SUB_IDS }

/** Event times are ms since the epoch, within what ClickHouse's DateTime64(3) holds. */
export const MAX_EVENT_TS = Date.UTC(2299, 11, 31)
export const EventTs = z.number().int().nonnegative().max(MAX_EVENT_TS)

export const ClickEventSchema = z.object({
  kind: z.literal('click'),
  /** the signed click id: the click's idempotency key */
  id: z.string().min(1),
  ts: EventTs,
  code: z.string(),
  linkId: z.number().int().nonnegative(),
  affiliateId: z.number().int().nonnegative(),
  offerId: z.number().int().nonnegative(),
  ip: z.string(),
  ua: z.string(),
  referer: z.string(),
  sub: z.record(z.string(), z.string()),
  params: z.record(z.string(), z.string()),
  /** set when the link's geo rule stopped the visitor (blocked) or sent it elsewhere (redirected) */
  geo: z.enum(['blocked', 'redirected']).optional(),
  /** set by ingest's flood guard: more clicks from this address in the window than the limit.
   *  The visitor was still redirected; the processor keeps the row as `filtered` (reason
   *  `click_flood`), out of the click counts. */
  flood: z.literal(true).optional(),
})
export type ClickEvent = z.infer<typeof ClickEventSchema>

export type ConversionKind = (typeof CONVERSION_KINDS)[number]

/**
 * Vertical fields an event carries besides its main amount, kept as exact strings:
 * activity per player and day (bets, wins, bonuses, fees, adjustments), a trade (instrument,
 * lots, spread, commission), a prop-trading challenge (challenge_id, plan), and the event a
 * chargeback or refund reverses (ref_event_id).
 */
export type DetailField = (typeof DETAIL_FIELDS)[number]

/** The postback's own parameter names; a source's field mapping renames its platform's to these. */
export const POSTBACK_FIELDS = [...POSTBACK_MAIN_FIELDS, ...DETAIL_FIELDS] as const
export type PostbackField = (typeof POSTBACK_FIELDS)[number]

export const ConversionEventSchema = z.object({
  kind: z.enum(CONVERSION_KINDS),
  /** idempotency key: `${sourceId}:${eventId}` */
  id: z.string().min(1),
  sourceId: z.number().int().positive(),
  eventId: z.string().min(1),
  /** when it was received (ingest's clock) */
  ts: EventTs,
  /** when it happened on the operator's platform (its `occurred_at`, default the time
   *  received). Deal versions, attribution windows and the facts' day go by it. Absent on
   *  events stored before it existed: read as `ts` (occurredAtOf). */
  occurredAt: EventTs.optional(),
  clickId: z.string().optional(),
  playerId: z.string().optional(),
  amount: AmountSchema.optional(),
  currency: StoredCurrencySchema.optional(),
  details: z.partialRecord(z.enum(DETAIL_FIELDS), z.string()).optional(),
})
export type ConversionEvent = z.infer<typeof ConversionEventSchema>

/**
 * An operator moves a player to another affiliate (0: organic). It travels on the player's
 * partition like the player's conversions, so it applies in order with them: events after it
 * go to the new affiliate, nothing before it changes. Its row is the audit record.
 */
export const ReassignEventSchema = z.object({
  kind: z.literal('reassign'),
  /** idempotency key: `ra:<uuid>` */
  id: z.string().min(1),
  ts: EventTs,
  playerId: z.string().min(1).max(128),
  affiliateId: z.number().int().nonnegative(),
  /** the link the player came through, when known (an imported binding) */
  linkId: z.number().int().nonnegative().optional(),
  offerId: z.number().int().nonnegative().optional(),
  /** an imported binding: applies only to a player not bound yet (first touch stands) */
  onlyIfUnbound: z.boolean().optional(),
  /** who asked */
  by: z.string().max(200),
  note: z.string().max(500),
})
export type ReassignEvent = z.infer<typeof ReassignEventSchema>

export type StreamEvent = ClickEvent | ConversionEvent | ReassignEvent

/** When a conversion happened: its occurredAt, or for an event stored before that field
 *  existed, the time it was received. */
export function occurredAtOf(e: Pick<ConversionEvent, 'ts' | 'occurredAt'>): number {
  return e.occurredAt ?? e.ts
}

export function conversionKey(sourceId: number, eventId: string): string {
  return `${sourceId}:${eventId}`
}

/** The key that orders a conversion (with every other ordering key in keys.ts). */
export { conversionOrderKey } from './keys.js'

const enc = new TextEncoder()
export function encodeEvents(events: readonly StreamEvent[]): Uint8Array {
  let s = ''
  for (const e of events) s += JSON.stringify(e) + '\n'
  return enc.encode(s)
}
