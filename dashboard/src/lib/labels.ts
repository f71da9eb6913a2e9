/**
 * What the platform's internal codes mean to a person: event kinds, statuses and the reason
 * codes the processor writes on event rows. One table for every view; test/labels.test.ts
 * checks it covers every code the processor emits and every status and kind.
 */
import { CONVERSION_KINDS, EVENT_STATUSES, LINE_STATUSES } from '../../../common/vocabulary.js'

type Kind = 'click' | 'reassign' | (typeof CONVERSION_KINDS)[number]

export const KIND_LABELS: Record<Kind, string> = {
  click: 'Click',
  reassign: 'Player moved',
  registration: 'Registration',
  ftd: 'First deposit (FTD)',
  deposit: 'Deposit',
  withdrawal: 'Withdrawal',
  activity: 'Player activity',
  trade: 'Trade',
  challenge_purchase: 'Challenge bought',
  challenge_reset: 'Challenge reset',
  challenge_refund: 'Challenge refunded',
  challenge_funded: 'Challenge funded',
  chargeback: 'Chargeback',
  refund: 'Refund',
  player_status: 'Player status',
}

export const STATUS_LABELS: Record<(typeof EVENT_STATUSES)[number] | 'active' | 'paused' | 'suspended' | 'delivered' | 'retry' | 'dead', string> = {
  valid: 'Counted',
  attributed: 'Credited',
  unattributed: 'Not credited',
  duplicate: 'Duplicate',
  parked: 'Waiting for registration',
  blocked: 'Blocked',
  filtered: 'Filtered out',
  active: 'Active',
  paused: 'Paused',
  suspended: 'Suspended',
  delivered: 'Delivered',
  retry: 'Will retry',
  dead: 'Failed',
}

/** Every reason code an event row can carry. */
export const REASON_LABELS: Record<string, string> = {
  // clicks
  geo_blocked: 'Blocked: visitor outside the link’s countries',
  geo_redirected: 'Visitor outside the link’s countries, sent elsewhere',
  bot: 'Bot or crawler',
  click_flood: 'Too many clicks from one address',
  // why a conversion found no affiliate
  no_click_id: 'No click id sent',
  malformed_click_id: 'Click id unreadable',
  bad_signature: 'Click id not genuine',
  click_expired: 'Click older than the attribution window',
  click_in_future: 'Click time in the future',
  unknown_player: 'Player not known',
  player_unattributed: 'Player came without a partner',
  // duplicates
  player_already_registered: 'Player registered before',
  ftd_already_recorded: 'First deposit already recorded',
  event_already_applied: 'Event already recorded',
  player_already_bound: 'Player already belongs to a partner',
  // commission
  first_deposit: 'First deposit',
  // binding
  registered: 'Player signed up through your link',
  bound_player: 'Your player',
  reassigned: 'Player moved by the operator',
  imported: 'Player imported',
  // waiting
  awaiting_registration: 'Waiting for the player’s registration',
  parking_full: 'Too many events waiting for a registration',
  // dead letters and drops (processor counts, the dead-letter stream)
  undecodable: 'Unreadable message',
  invalid_click: 'Click record invalid',
  invalid_conversion: 'Event record invalid',
  already_applied: 'Already processed',
  not_attributed: 'No partner, so no money facts',
  no_money: 'Carries no money',
}

/** A code's label, or the code itself (a code this version does not know yet stays visible). */
export const kindLabel = (k: string) => (KIND_LABELS as Record<string, string>)[k] ?? k
export const statusLabel = (s: string) => (STATUS_LABELS as Record<string, string>)[s] ?? s
export const reasonLabel = (r: string) => (r ? (REASON_LABELS[r] ?? r) : '')

/** What a commission ledger line is, for a person (shared with the invoices). */
export { LINE_KIND_LABELS } from '../../../common/vocabulary.js'

/** Where a ledger line stands. */
export const LINE_STATUS_LABELS: Record<(typeof LINE_STATUSES)[number], string> = {
  pending: 'Pending (in its hold)',
  payable: 'Payable',
  held: 'Held for review',
  rejected: 'Rejected as fraud',
  reversed: 'Reversal',
}
