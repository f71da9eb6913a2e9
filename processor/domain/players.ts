/**
 * Per-player conversion rules, pure: (prior state, event) → outcome and next state.
 * The state records the stream position it last applied, so a redelivered event is
 * recognised and changes nothing.
 */
import type { FraudTally } from './fraud/conversion.js'
import { hash } from 'node:crypto'
import type { ClickIdCheck } from '../../common/clickid.js'
import { occurredAtOf, type ConversionEvent, type ReassignEvent } from '../../common/events.js'
import { resolveClick, type UnattributedReason, type WindowOf } from './attribution.js'
import type { PlayerMoney } from './commission/player.js'

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
  /** when the binding was made; absent while the player is only known by parked events */
  boundAt?: number
  registeredAt?: number
  ftdAt?: number
  ftdEventId?: string
  /** (states written before the commission engine: the flat CPA's ledger entry) */
  cpaEntryId?: string
  /** events that arrived before the player was bound, in arrival order, applied on binding */
  parked?: ParkedEvent[]
  /** the player's latest later events (deposits, activity, …), newest last, as 8-character
   *  tokens of their ids (seenToken) in one string: a copy of one that comes back after the
   *  stream's duplicate window is recognised */
  seenIds?: string
  /** (states written before the tokens: the ids themselves; read, and replaced on the next write) */
  seen?: string[]
  /** set by an operator's reassignment: when, and from which affiliate */
  reassignedAt?: number
  reassignedFrom?: number
  /** qualification progress and the other money state of the commission rules (commission/player.ts) */
  money?: PlayerMoney
  /** a click key joined to its player: the player's key (its events go there) */
  joinedTo?: string
  /** a player that took over a cookieless first deposit's state: the key its money is under */
  moneyKey?: string
  /** what the fraud rules decided of the player (docs/fraud.md): what it earns from then on is
   *  held, or rejected, until a person's review decides otherwise */
  fraud?: PlayerFraud
  /** the bonus abuse pattern's tally, from the first deposit on */
  fraudTally?: FraudTally
  /** …and what its pseudonym is made of (`click:<id>`), so that every line and row of the
   *  player shows the one pseudonym its first deposit was shown under */
  refSource?: string
}

export type PlayerFraud = { action: 'hold' | 'reject'; reasons: string[]; at: number }

export type ParkedEvent = { ev: ConversionEvent; pos: Pos }

/** Parked events held per player; beyond this an early event is recorded unattributed. */
export const MAX_PARKED = 100

/** Later-event ids remembered per player. */
export const SEEN_IDS = 256
const TOKEN = 8

/**
 * An event id as 8 characters: 48 bits of its SHA-256, base64url. 256 of them are 2 KB of the
 * player's state instead of ~6.7 KB of ids. Two different ids share a token with odds of about
 * 1 in 2^48 per pair: a later event taken for a copy of one of the player's last 256 is about
 * one in a trillion events.
 */
export function seenToken(id: string): string {
  return hash('sha256', id, 'buffer').subarray(0, 6).toString('base64url')
}

function wasSeen(state: PlayerState, id: string): boolean {
  if (state.seen?.includes(id)) return true
  const s = state.seenIds
  if (!s) return false
  const t = seenToken(id)
  for (let i = s.indexOf(t); i >= 0; i = s.indexOf(t, i + 1)) if (i % TOKEN === 0) return true
  return false
}

function remember(state: PlayerState, id: string): PlayerState {
  const { seen: old, ...rest } = state
  const all = (old ?? []).map(seenToken).join('') + (state.seenIds ?? '') + seenToken(id)
  return { ...rest, seenIds: all.slice(-SEEN_IDS * TOKEN) }
}

export type OutcomeStatus = 'attributed' | 'unattributed' | 'duplicate' | 'parked'
export type DuplicateReason = 'player_already_registered' | 'ftd_already_recorded' | 'event_already_applied'
/** an attributed first deposit (its commission is the commission engine's: ledger_lines) */
export type CommissionNote = 'first_deposit'
/** a later event (deposit, activity, trade, …) attributed through the player's binding */
export type BindingNote = 'bound_player'
export type ParkingNote = 'awaiting_registration' | 'parking_full'
export type ReassignNote = 'reassigned' | 'imported' | 'player_already_bound'

type Applied = {
  status: OutcomeStatus
  reason: UnattributedReason | DuplicateReason | CommissionNote | BindingNote | ParkingNote | ReassignNote | 'registered'
  affiliateId: number
  linkId: number
  offerId: number
  clickId: string
}

/** A parked event applied when its player was bound (by this outcome's event). */
export type Released = Applied & { ev: ConversionEvent }

export type ConversionOutcome =
  | { status: 'already_applied' }
  | (Applied & {
      next: PlayerState
      /** parked events this event released, in the order they arrived */
      released?: Released[]
    })

export type ConversionContext = {
  verify: (clickId: string) => ClickIdCheck
  /** click → conversion window: one for all, or per the click's offer and time */
  windowMs: WindowOf
  playerRef: string
}

const isBound = (s: PlayerState | undefined): s is PlayerState & { boundAt: number } => s?.boundAt !== undefined

function bind(ev: ConversionEvent, pos: Pos, ctx: ConversionContext): PlayerState {
  // the window runs to when the event happened; a platform that reports it late loses nothing
  const r = resolveClick(ctx.verify, ev.clickId, occurredAtOf(ev), ctx.windowMs)
  if (r.ok) return { pos, ...r.attribution, boundAt: ev.ts }
  return { pos, affiliateId: 0, linkId: 0, offerId: 0, reason: r.reason, boundAt: ev.ts }
}

function view(s: PlayerState) {
  return { affiliateId: s.affiliateId, linkId: s.linkId, offerId: s.offerId, clickId: s.clickId ?? '' }
}

const NOBODY = { affiliateId: 0, linkId: 0, offerId: 0, clickId: '' }

export function applyConversion(ev: ConversionEvent, pos: Pos, prior: PlayerState | undefined, ctx: ConversionContext): ConversionOutcome {
  if (prior && !after(pos, prior.pos)) return { status: 'already_applied' }

  if (isBound(prior)) {
    // A bound player holds parked events only when a join brought them (see processor/pipeline.ts
    // joinOf: the player's own, parked before its cookieless first deposit was joined to it);
    // the first event after the join releases them.
    const o = ev.kind === 'registration' ? registerBound(ev, prior, pos) : applyBound(ev, { ...prior, pos }, ctx)
    return o.next.parked?.length ? release(o, o.next.parked, ctx) : o
  }
  if (ev.kind === 'registration') return release(registered({ ...bind(ev, pos, ctx), registeredAt: ev.ts }), prior?.parked, ctx)

  // The player is not bound yet. A cookieless FTD binds through the click it brings;
  // anything else waits for the registration (out of order arrival), never lost.
  if (ev.kind === 'ftd' && ev.clickId) return release(applyBound(ev, bind(ev, pos, ctx), ctx, true), prior?.parked, ctx)
  const parked = prior?.parked ?? []
  if (parked.some((p) => p.ev.id === ev.id)) return { status: 'duplicate', reason: 'event_already_applied', ...NOBODY, next: { ...prior!, pos } }
  if (parked.length >= MAX_PARKED) return { status: 'unattributed', reason: 'parking_full', ...NOBODY, next: { ...prior!, pos } }
  return { status: 'parked', reason: 'awaiting_registration', ...NOBODY, next: { pos, ...NOBODY, parked: [...parked, { ev, pos }] } }
}

/**
 * An operator's reassignment: from its stream position on, the player belongs to the new
 * affiliate (0: organic). Nothing earlier changes: a CPA already paid stays with the
 * affiliate it was paid to, and is not paid twice. A player not bound yet is bound by it, and
 * what was parked is applied to the new affiliate.
 */
export function applyReassign(ev: ReassignEvent, pos: Pos, prior: PlayerState | undefined, ctx: ConversionContext): ConversionOutcome {
  if (prior && !after(pos, prior.pos)) return { status: 'already_applied' }
  if (ev.onlyIfUnbound && isBound(prior)) return { status: 'duplicate', reason: 'player_already_bound', ...view(prior), next: { ...prior, pos } }
  const from = isBound(prior) ? prior.affiliateId : 0
  const { clickId: _c, clickTs: _t, reason: _r, parked, ...kept } = prior ?? { pos, ...NOBODY }
  const next: PlayerState = {
    ...kept,
    pos,
    affiliateId: ev.affiliateId,
    linkId: ev.linkId ?? 0,
    offerId: ev.offerId ?? 0,
    boundAt: isBound(prior) ? prior.boundAt : ev.ts,
    reassignedAt: ev.ts,
    reassignedFrom: from,
    ...(ev.affiliateId === 0 ? { reason: 'player_unattributed' as const } : {}),
  }
  const o: Applied & { next: PlayerState } = {
    status: ev.affiliateId > 0 ? 'attributed' : 'unattributed',
    reason: ev.onlyIfUnbound ? 'imported' : 'reassigned',
    affiliateId: ev.affiliateId,
    linkId: next.linkId,
    offerId: next.offerId,
    clickId: '',
    next,
  }
  return isBound(prior) ? o : release(o, parked, ctx)
}

function registerBound(ev: ConversionEvent, prior: PlayerState & { boundAt: number }, pos: Pos): Applied & { next: PlayerState } {
  if (prior.registeredAt !== undefined) return { status: 'duplicate', reason: 'player_already_registered', ...view(prior), next: { ...prior, pos } }
  // First touch: an earlier binding (an FTD that brought its own click) stands.
  return registered({ ...prior, pos, registeredAt: ev.ts })
}

function registered(next: PlayerState): Applied & { next: PlayerState } {
  return next.affiliateId > 0
    ? { status: 'attributed', reason: 'registered', ...view(next), next }
    : { status: 'unattributed', reason: next.reason ?? 'no_click_id', ...view(next), next }
}

/** Apply the parked events to the binding just made, in arrival order. */
function release(
  o: Applied & { next: PlayerState },
  parked: ParkedEvent[] | undefined,
  ctx: ConversionContext,
): Applied & { next: PlayerState; released?: Released[] } {
  if (!parked?.length) return o
  let state = o.next
  const released: Released[] = []
  for (const p of parked) {
    const r = applyBound(p.ev, state, ctx)
    const { next, ...outcome } = r
    released.push({ ...outcome, ev: p.ev })
    state = next
  }
  const { parked: _done, ...bound } = state
  return { ...o, next: bound, released }
}

/** An event of a bound player (the state already carries this event's position). */
function applyBound(ev: ConversionEvent, state: PlayerState, ctx: ConversionContext, boundByThis = false): Applied & { next: PlayerState } {
  if (ev.kind === 'registration') throw new Error('a registration is never applied to a bound player here')
  if (ev.kind !== 'ftd') {
    // Every later event carries only the player id and is attributed through the binding;
    // it never binds anyone itself. The same event id twice is applied once.
    if (wasSeen(state, ev.id)) return { status: 'duplicate', reason: 'event_already_applied', ...view(state), next: state }
    const next = remember(state, ev.id)
    return next.affiliateId > 0
      ? { status: 'attributed', reason: 'bound_player', ...view(next), next }
      : { status: 'unattributed', reason: 'player_unattributed', ...view(next), next }
  }
  if (state.ftdEventId !== undefined) return { status: 'duplicate', reason: 'ftd_already_recorded', ...view(state), next: state }
  const next: PlayerState = { ...state, ftdAt: ev.ts, ftdEventId: ev.id }
  if (next.affiliateId === 0) {
    // a click that failed to bind says why; an organic player's FTD is the player's
    const reason = boundByThis ? (next.reason ?? 'no_click_id') : 'player_unattributed'
    return { status: 'unattributed', reason, ...view(next), next }
  }
  // what it earns is the commission engine's to decide (commission/player.ts, affiliate.ts)
  return { status: 'attributed', reason: 'first_deposit', ...view(next), next }
}
