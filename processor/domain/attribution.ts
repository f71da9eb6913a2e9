/**
 * Attribution rules, pure. A registration binds a player for life to the affiliate of the
 * click that brought them (first touch); later events carry the player id and are
 * attributed through that binding. Forged, tampered or expired click ids attribute nothing
 * and say why.
 */
import type { ClickIdCheck } from '../../common/clickid.js'
import type { WindowVersion } from '../../common/entities.js'

/** Clocks of different ingest hosts may disagree a little; beyond this a click "from the future" is refused. */
export const CLOCK_SKEW_MS = 5 * 60_000

export type Attribution = { affiliateId: number; linkId: number; offerId: number; clickId: string; clickTs: number }

export const UNATTRIBUTED_REASONS = [
  'no_click_id',
  'malformed_click_id',
  'bad_signature',
  'click_expired',
  'click_in_future',
  'unknown_player',
  'player_unattributed',
] as const
export type UnattributedReason = (typeof UNATTRIBUTED_REASONS)[number]

export type ClickResolution = { ok: true; attribution: Attribution } | { ok: false; reason: UnattributedReason }

/** The window of an offer for a click: one for every click, or chosen by the click's offer and time. */
export type WindowOf = number | ((offerId: number, clickTs: number) => number)

/**
 * `eventTs`: when the event happened (its occurred time), not when it was received: a
 * registration reported late is still inside the window it happened in.
 */
export function resolveClick(verify: (id: string) => ClickIdCheck, clickId: string | undefined, eventTs: number, windowMs: WindowOf): ClickResolution {
  if (!clickId) return { ok: false, reason: 'no_click_id' }
  const c = verify(clickId)
  if (!c.ok) return { ok: false, reason: c.reason === 'malformed' ? 'malformed_click_id' : 'bad_signature' }
  if (c.ts > eventTs + CLOCK_SKEW_MS) return { ok: false, reason: 'click_in_future' }
  if (eventTs - c.ts > (typeof windowMs === 'function' ? windowMs(c.offerId, c.ts) : windowMs)) return { ok: false, reason: 'click_expired' }
  return { ok: true, attribution: { affiliateId: c.affiliateId, linkId: c.linkId, offerId: c.offerId, clickId, clickTs: c.ts } }
}

/**
 * The window (days) of an offer in force at `t`: the latest version with effectiveFrom ≤ t
 * (of two at the same time, the one stored later); the default before the first version, or
 * where a version cleared the offer's own window (days null).
 *
 * The processor asks at the click's time, not the registration's. The window is a term the
 * affiliate sent the visitor under: a click made while the offer promised 30 days keeps its
 * 30 days when the operator shortens the window to 7 the next day, and a click made under 7
 * days is not revived when it is lengthened later. The registration's time would let a change
 * reach back over clicks already sent, which is the retroactive effect versions exist to
 * prevent. Either time gives a replay the same answer; only the click's keeps the promise.
 */
export function windowAt(versions: readonly WindowVersion[], t: number, defaultDays: number): number {
  let found: WindowVersion | undefined
  for (const v of versions) if (v.effectiveFrom <= t && (!found || v.effectiveFrom >= found.effectiveFrom)) found = v
  return found?.days ?? defaultDays
}
