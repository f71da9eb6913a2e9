/**
 * Attribution rules, pure. A registration binds a player for life to the affiliate of the
 * click that brought them (first touch); later events carry the player id and are
 * attributed through that binding. Forged, tampered or expired click ids attribute nothing
 * and say why.
 */
import type { ClickIdCheck } from '../../common/clickid.js'

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

/** `windowMs`: one window for every click, or the window of the click's offer. */
export function resolveClick(verify: (id: string) => ClickIdCheck, clickId: string | undefined, eventTs: number, windowMs: number | ((offerId: number) => number)): ClickResolution {
  if (!clickId) return { ok: false, reason: 'no_click_id' }
  const c = verify(clickId)
  if (!c.ok) return { ok: false, reason: c.reason === 'malformed' ? 'malformed_click_id' : 'bad_signature' }
  if (c.ts > eventTs + CLOCK_SKEW_MS) return { ok: false, reason: 'click_in_future' }
  if (eventTs - c.ts > (typeof windowMs === 'function' ? windowMs(c.offerId) : windowMs)) return { ok: false, reason: 'click_expired' }
  return { ok: true, attribution: { affiliateId: c.affiliateId, linkId: c.linkId, offerId: c.offerId, clickId, clickTs: c.ts } }
}
