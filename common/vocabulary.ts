/**
 * The platform's fixed vocabulary, with no dependencies: the server validates against it and
 * the dashboard builds its filters and forms from it, so the two cannot drift apart.
 */

export const SUB_IDS = ['sub1', 'sub2', 'sub3', 'sub4', 'sub5'] as const

/** Every event an operator's platform reports (docs/domain.md names them). */
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
  'player_status',
] as const

/** What an operator may report of a player (a `player_status` event): each disqualifies the
 *  player from a CPA not yet earned and takes back what is still in its hold. */
export const PLAYER_STATUSES = ['kyc_failed', 'self_excluded', 'duplicate'] as const

/** What an event row's status can be. */
/** `filtered`: a click kept for the fraud team but not counted (a bot user agent, a click flood). */
export const EVENT_STATUSES = ['valid', 'attributed', 'unattributed', 'duplicate', 'parked', 'blocked', 'filtered'] as const

/** The macros an outbound postback URL may use. */
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

/** What the audit log records changes of. */
export const AUDIT_ENTITIES = [
  'brand',
  'offer',
  'affiliate',
  'link',
  'source',
  'endpoint',
  'deal',
  'player',
  'fx_rate',
  'statement',
  'fraud_settings',
  'fraud_review',
] as const

/** Vertical fields an event carries besides its main amount (activity, trades, challenges, reversals). */
export const DETAIL_FIELDS = [
  'date',
  'bets',
  'wins',
  'bonuses',
  'fees',
  'adjustments',
  'instrument',
  'lots',
  'spread',
  'commission',
  'challenge_id',
  'plan',
  'ref_event_id',
  'status',
  // what the fraud rules read of a player (docs/fraud.md): where it registered or paid from,
  // and hashes of its e-mail and payment method (the operator hashes; no raw data needed)
  'ip',
  'device_id',
  'payment_hash',
  'email_hash',
  'kyc_country',
] as const

/** The postback's own main parameter names (a source's field mapping renames its platform's to these). */
export const POSTBACK_MAIN_FIELDS = ['event', 'event_id', 'click_id', 'player_id', 'amount', 'currency', 'occurred_at'] as const

/** What a commission ledger line is (docs/commission.md). */
export const LINE_KINDS = [
  'cpa',
  'cpa_retro',
  'cpl',
  'revshare',
  'clawback',
  'ib',
  'ib_override',
  'prop',
  'sub',
  'reversal',
  'rounding',
  'adjustment',
  'payment',
] as const
/** What a commission ledger line is, for a person (the dashboard and the invoices). */
export const LINE_KIND_LABELS: Record<(typeof LINE_KINDS)[number], string> = {
  cpa: 'CPA',
  cpa_retro: 'CPA re-priced (tier)',
  cpl: 'CPL',
  revshare: 'RevShare',
  clawback: 'CPA advance offset',
  ib: 'IB rebate',
  ib_override: 'IB override',
  prop: 'Challenge fee share',
  sub: 'Sub-affiliate share',
  reversal: 'Reversal',
  rounding: 'Statement rounding',
  adjustment: 'Manual adjustment',
  payment: 'Payment',
}

/** Why traffic or a conversion was flagged, held, rejected or filtered (DOMAIN: fraud and traffic
 *  quality): one closed set, shown to the fraud team and, with its evidence, to the affiliate. */
export const FRAUD_REASONS = [
  'ctit_too_short',
  'late_conversions',
  'click_flood',
  'hosting_ip',
  'bot',
  'multi_account',
  'shared_payment',
  'self_referral',
  'paid_search',
  'geo_mismatch',
  'bonus_abuse',
  'rate_anomaly',
  'click_reuse',
] as const
/** What each reason means, for a person (the fraud view, the affiliate's flags). */
export const FRAUD_REASON_LABELS: Record<(typeof FRAUD_REASONS)[number], string> = {
  ctit_too_short: 'Conversion too soon after its click (injection)',
  late_conversions: 'Many conversions long after their clicks (click spamming)',
  click_flood: 'Too many clicks from one address or device',
  hosting_ip: 'Datacenter, hosting or proxy address',
  bot: 'Bot or crawler user agent',
  multi_account: 'Many registrations from one address or device',
  shared_payment: 'Payment method shared with another player',
  self_referral: "The affiliate's own account",
  paid_search: 'Paid-search click where the terms forbid it',
  geo_mismatch: 'Country outside the markets, or not the KYC country',
  bonus_abuse: 'Bonus abuse: deposit, bonus, little wagering, withdrawal',
  rate_anomaly: "Conversion rate far above the affiliate's own",
  click_reuse: 'One click brought several players',
}
/** What a finding does, for a person. */
export const FRAUD_ACTION_LABELS: Record<(typeof FRAUD_ACTIONS)[number], string> = {
  flag: 'Flagged (counts)',
  filter: 'Filtered (not counted)',
  hold: 'Money held for review',
  reject: 'Rejected (never paid)',
}

/** What a finding does, in the ladder's order: shown, counted as filtered, money held for review, never earns. */
export const FRAUD_ACTIONS = ['flag', 'filter', 'hold', 'reject'] as const

/** Where a statement stands: made by a close (draft), approved for payment, held back by finance, paid. */
export const STATEMENT_STATUSES = ['draft', 'approved', 'held', 'paid'] as const
/** Where a ledger line stands: in its hold, payable, held for review, rejected as fraud (never
 *  paid unless a review releases it), or a reversal of another. */
export const LINE_STATUSES = ['pending', 'payable', 'held', 'rejected', 'reversed'] as const
