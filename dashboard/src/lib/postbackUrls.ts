/**
 * The postback URLs an operator pastes into its player platform, one per event kind, in the
 * platform's own parameter and event names (the source's field and event mappings). The
 * values are placeholders the platform fills in: `{player_id}`, `{amount}`, …
 */
import { DETAIL_FIELDS, POSTBACK_MAIN_FIELDS, type CONVERSION_KINDS } from '../../../common/vocabulary.js'

type Kind = (typeof CONVERSION_KINDS)[number]

/** Our postback fields: the server's own lists (common/vocabulary.ts). */
export const MAIN_FIELDS = POSTBACK_MAIN_FIELDS
export { DETAIL_FIELDS }
export const MAPPABLE_FIELDS = [...MAIN_FIELDS, ...DETAIL_FIELDS] as const
export type Field = (typeof MAPPABLE_FIELDS)[number]

/** What each kind sends besides event and event_id: what it needs, then what it usually carries. */
export const KIND_FIELDS: Record<Kind, readonly Field[]> = {
  registration: ['player_id', 'click_id'],
  ftd: ['player_id', 'amount', 'currency', 'click_id'],
  deposit: ['player_id', 'amount', 'currency'],
  withdrawal: ['player_id', 'amount', 'currency'],
  chargeback: ['player_id', 'amount', 'currency', 'ref_event_id'],
  refund: ['player_id', 'amount', 'currency', 'ref_event_id'],
  activity: ['player_id', 'date', 'currency', 'bets', 'wins', 'bonuses', 'fees', 'adjustments'],
  trade: ['player_id', 'instrument', 'lots', 'spread', 'commission', 'currency'],
  challenge_purchase: ['player_id', 'amount', 'currency', 'challenge_id', 'plan'],
  challenge_reset: ['player_id', 'amount', 'currency', 'challenge_id', 'plan'],
  challenge_refund: ['player_id', 'amount', 'currency', 'challenge_id', 'ref_event_id'],
  challenge_funded: ['player_id', 'challenge_id', 'plan'],
  player_status: ['player_id', 'status'],
}

export type SourceMapping = { id: number; auth: 'token' | 'hmac'; fieldMap: Partial<Record<string, string>>; eventMap: Record<string, string> }

/** The platform's name of one of our fields. */
export const paramOf = (s: SourceMapping, f: Field) => s.fieldMap[f] || f

/** The platform's name of an event kind: the first name its event mapping gives the kind, else ours. */
export function eventNameOf(s: SourceMapping, kind: string): string {
  return Object.entries(s.eventMap).find(([, k]) => k === kind)?.[0] ?? kind
}

/** The placeholder for the token in a ready URL: the operator pastes the source's token there. */
export const TOKEN_PLACEHOLDER = 'YOUR_TOKEN'

/** The parameters of a postback of this kind, in order, with `value(field)` for each field's value. */
function params(s: SourceMapping, kind: Kind, value: (f: Field) => string, withToken: boolean): [string, string][] {
  return [
    ['source', String(s.id)],
    ...(withToken && s.auth === 'token' ? ([['token', TOKEN_PLACEHOLDER]] as [string, string][]) : []),
    [paramOf(s, 'event'), eventNameOf(s, kind)],
    [paramOf(s, 'event_id'), value('event_id')],
    ...KIND_FIELDS[kind].map((f): [string, string] => [paramOf(s, f), value(f)]),
  ]
}

/** Keeps {placeholders} readable: the braces are what the platform replaces. */
const enc = (v: string) => encodeURIComponent(v).replace(/%7B/g, '{').replace(/%7D/g, '}')
const query = (ps: [string, string][]) => ps.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&')

/** The ready URL of one event kind. */
export function readyUrl(origin: string, s: SourceMapping, kind: Kind): string {
  return `${origin}/postback?${query(params(s, kind, (f) => `{${f}}`, true))}`
}

/** Sample values for a test call: realistic, and marked as a test in the ids. */
const SAMPLE: Record<Field, string> = {
  event: '',
  event_id: 'test-1001',
  click_id: 'CLICK_ID_FROM_THE_LANDING_PAGE',
  player_id: 'test-player-1',
  amount: '50.00',
  currency: 'EUR',
  occurred_at: String(Math.floor(Date.now() / 1000)),
  date: new Date().toISOString().slice(0, 10),
  bets: '100.00',
  wins: '80.00',
  bonuses: '0',
  fees: '0',
  adjustments: '0',
  instrument: 'EURUSD',
  status: 'kyc_failed',
  lots: '1.5',
  spread: '3.00',
  commission: '7.00',
  challenge_id: 'ch-1',
  plan: '100k',
  ref_event_id: 'dep-1001',
  ip: '203.0.113.7',
  device_id: 'test-device-1',
  payment_hash: 'test-payment-hash-1',
  email_hash: 'test-email-hash-1',
  kyc_country: 'DE',
}

/** A curl command that sends one postback of this kind with sample values. */
export function curlExample(origin: string, s: SourceMapping, kind: Kind, token = TOKEN_PLACEHOLDER): string {
  const sample = (f: Field) => SAMPLE[f]
  // A registration with a made-up click id would be recorded as not credited: leave it out.
  const ps = params(s, kind, sample, false).filter(([k]) => k !== paramOf(s, 'click_id'))
  if (s.auth === 'token') return `curl "${origin}/postback?${query([...ps.slice(0, 1), ['token', token], ...ps.slice(1)])}"`
  const body = JSON.stringify(Object.fromEntries(ps.map(([k, v]) => [k, k === 'source' ? Number(v) : v])))
  return [
    `body='${body}'`,
    `ts=$(date +%s)`,
    `sig=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$HMAC_SECRET" -r | cut -d' ' -f1)`,
    `curl -H "content-type: application/json" -H "x-timestamp: $ts" -H "x-signature: $sig" -d "$body" "${origin}/postback"`,
  ].join('\n')
}
