/**
 * Per-player conversion rules, pure: (prior state, event) → outcome and next state.
 * The state records the stream position it last applied, so a redelivered event is
 * recognised and changes nothing.
 */
import type { ClickIdCheck } from '../../common/clickid.js'
import type { CpaDeal } from '../../common/entities.js'
import type { ConversionEvent } from '../../common/events.js'
import { resolveClick, type UnattributedReason } from './attribution.js'
import { cpaEntry, versionAt, type LedgerEntry } from './commission.js'

/** A stream position: sequence of the message, index of the event inside it. */
export type Pos = readonly [seq: number, idx: number]

export function after(a: Pos, b: Pos): boolean {
  return a[0] > b[0] || (a[0] === b[0] && a[1] > b[1])
}

export type PlayerState = {
  pos: Pos
  /** 0 when the player came without a valid click: organic for life. */
  affiliateId: number
  linkId: number
  offerId: number
  clickId?: string
  clickTs?: number
  /** why the binding has no affiliate */
  reason?: UnattributedReason
  boundAt: number
  registeredAt?: number
  ftdAt?: number
  ftdEventId?: string
  cpaEntryId?: string
}

export type OutcomeStatus = 'attributed' | 'unattributed' | 'duplicate'
export type DuplicateReason = 'player_already_registered' | 'ftd_already_recorded'
export type CommissionNote = 'cpa' | 'no_deal' | 'cpa_already_paid'
/** a later event (deposit, activity, trade, …) attributed through the player's binding */
export type BindingNote = 'bound_player'

export type ConversionOutcome =
  | { status: 'already_applied' }
  | {
      status: OutcomeStatus
      reason: UnattributedReason | DuplicateReason | CommissionNote | BindingNote | 'registered'
      affiliateId: number
      linkId: number
      offerId: number
      clickId: string
      /** absent when the event leaves no state (a later event of a player not yet seen) */
      next?: PlayerState
      ledger?: LedgerEntry
    }

export type ConversionContext = {
  verify: (clickId: string) => ClickIdCheck
  windowMs: number
  dealOf: (affiliateId: number) => CpaDeal | undefined
  playerRef: string
}

function bind(ev: ConversionEvent, pos: Pos, ctx: ConversionContext): PlayerState {
  const r = resolveClick(ctx.verify, ev.clickId, ev.ts, ctx.windowMs)
  if (r.ok) return { pos, ...r.attribution, boundAt: ev.ts }
  return { pos, affiliateId: 0, linkId: 0, offerId: 0, reason: r.reason, boundAt: ev.ts }
}

function view(s: PlayerState) {
  return { affiliateId: s.affiliateId, linkId: s.linkId, offerId: s.offerId, clickId: s.clickId ?? '' }
}

export function applyConversion(ev: ConversionEvent, pos: Pos, prior: PlayerState | undefined, ctx: ConversionContext): ConversionOutcome {
  if (prior && !after(pos, prior.pos)) return { status: 'already_applied' }

  if (ev.kind === 'registration') {
    if (prior?.registeredAt !== undefined) {
      return { status: 'duplicate', reason: 'player_already_registered', ...view(prior), next: { ...prior, pos } }
    }
    // First touch: an earlier binding (an FTD that brought its own click) stands.
    const next: PlayerState = prior ? { ...prior, pos, registeredAt: ev.ts } : { ...bind(ev, pos, ctx), registeredAt: ev.ts }
    return next.affiliateId > 0
      ? { status: 'attributed', reason: 'registered', ...view(next), next }
      : { status: 'unattributed', reason: next.reason ?? 'no_click_id', ...view(next), next }
  }

  if (ev.kind !== 'ftd') {
    // Every later event carries only the player id and is attributed through the binding the
    // registration (or a cookieless FTD) made; it never binds anyone itself.
    if (!prior) return { status: 'unattributed', reason: 'unknown_player', affiliateId: 0, linkId: 0, offerId: 0, clickId: '' }
    const next: PlayerState = { ...prior, pos }
    return prior.affiliateId > 0
      ? { status: 'attributed', reason: 'bound_player', ...view(prior), next }
      : { status: 'unattributed', reason: 'player_unattributed', ...view(prior), next }
  }

  // ftd
  if (prior?.ftdEventId !== undefined) {
    return { status: 'duplicate', reason: 'ftd_already_recorded', ...view(prior), next: { ...prior, pos } }
  }
  let state: PlayerState
  if (prior) state = { ...prior, pos }
  else if (ev.clickId)
    state = bind(ev, pos, ctx) // cookieless flow: the FTD brings the click id itself
  else state = { pos, affiliateId: 0, linkId: 0, offerId: 0, reason: 'unknown_player', boundAt: ev.ts }
  state = { ...state, ftdAt: ev.ts, ftdEventId: ev.id }
  if (state.affiliateId === 0) {
    const reason = prior ? 'player_unattributed' : (state.reason ?? 'unknown_player')
    return { status: 'unattributed', reason, ...view(state), next: state }
  }
  if (state.cpaEntryId) return { status: 'attributed', reason: 'cpa_already_paid', ...view(state), next: state }
  const version = versionAt(ctx.dealOf(state.affiliateId), ev.ts)
  if (!version) return { status: 'attributed', reason: 'no_deal', ...view(state), next: state }
  const ledger = cpaEntry({ affiliateId: state.affiliateId, playerRef: ctx.playerRef, ts: ev.ts, eventId: ev.id, seq: pos[0] }, version)
  return { status: 'attributed', reason: 'cpa', ...view(state), next: { ...state, cpaEntryId: ledger.entry_id }, ledger }
}
