/**
 * The findings about one attributed conversion, pure (the player stage asks them): injected
 * clicks (CTIT), several players from one address, device or payment method, or from one click, a hosting address,
 * the affiliate referring itself, a KYC country other than where the player came from, and the
 * bonus abuse pattern. What holds or rejects marks the player (PlayerState.fraud): what it
 * earns from then on is held, or never paid, until a person decides (docs/fraud.md).
 */
import { countryOf } from '../../../common/geo.js'
import type { ConversionEvent } from '../../../common/events.js'
import { ctit } from './ctit.js'
import { scorePast, type Finding, type FraudSettings } from '../../../common/fraud/finding.js'
import { hostingOf } from './hosting.js'
import { registrationsPerKey } from './per-key.js'
import { selfReferral } from './self-referral.js'
import { D } from '../../../common/money.js'

/** How many players had registered from the event's address and device that day, and had paid
 *  with its payment method, the event's player included (the player stage counts them). */
export type KeyCounts = { ip?: number; device?: number; payment?: number }

/** What the player stage keeps for the bonus abuse pattern, from its first deposit on. */
export type FraudTally = { ftdAt: number; deposits: string; bonuses: string; bets: string }

export type ConversionFacts = {
  event: Pick<ConversionEvent, 'kind' | 'amount' | 'details'>
  occurredAt: number
  /** when its click was made (the binding's), if it came with one */
  clickTs: number | undefined
  counts: KeyCounts | undefined
  /** the affiliate's own e-mail hash (the same hash the operator sends as email_hash) */
  affiliateEmailHash: string | undefined
  tally: FraudTally | undefined
  /** the event names a click that already brought another player (the player stage knows: the
   *  click's key is joined to that player) */
  clickTaken?: boolean
}

export function conversionFindings(c: ConversionFacts, s: FraudSettings): Finding[] {
  const out: Finding[] = []
  const d = c.event.details ?? {}
  const k = c.event.kind
  if ((k === 'registration' || k === 'ftd') && c.clickTs !== undefined && s.ctitMinSeconds > 0) {
    const f = ctit(c.clickTs, c.occurredAt, s)
    if (f) out.push(f)
  }
  if (s.registrationsPerKeyPerDay > 0) {
    for (const key of ['ip', 'device'] as const) {
      const n = c.counts?.[key]
      const f = n !== undefined ? registrationsPerKey(key, n, s) : undefined
      if (f) out.push(f)
    }
  }
  // a click is one visit: a second player registering through it replays the click id
  if (c.clickTaken) out.push({ reason: 'click_reuse', score: 85, action: 'hold', evidence: { click: 'brought another player before' } })
  const paid = c.counts?.payment !== undefined ? registrationsPerKey('payment', c.counts.payment, s) : undefined
  if (paid) out.push(paid)
  const ip = d.ip
  const hosting = ip ? hostingOf(ip) : undefined
  if (hosting) out.push({ reason: 'hosting_ip', score: 80, action: 'hold', evidence: { asn: hosting.asn, network: hosting.org } })
  const self = c.affiliateEmailHash ? selfReferral({ email: c.affiliateEmailHash }, { email: d.email_hash ?? '' }) : undefined
  if (self) out.push(self)
  if (k === 'registration' && d.kyc_country && ip) {
    const country = countryOf(ip)
    if (country && country !== d.kyc_country)
      out.push({ reason: 'geo_mismatch', score: 60, action: 'flag', evidence: { ipCountry: country, kycCountry: d.kyc_country } })
  }
  if (k === 'withdrawal' && c.tally) {
    const f = bonusAbuse(c.tally, c.occurredAt, s)
    if (f) out.push(f)
  }
  return out
}

/**
 * The bonus abuse pattern (iGaming): a deposit, a bonus, little wagering, and a withdrawal soon
 * after the first deposit. Wagering under `bonusAbuseWagerRatio` × what was deposited, with a
 * bonus taken, and the withdrawal within `bonusAbuseDays` of the first deposit: holds.
 */
export function bonusAbuse(t: FraudTally, at: number, s: Pick<FraudSettings, 'bonusAbuseDays' | 'bonusAbuseWagerRatio'>): Finding | undefined {
  if (s.bonusAbuseDays === 0 || at - t.ftdAt > s.bonusAbuseDays * 86_400_000) return undefined
  const deposits = new D(t.deposits)
  const bonuses = new D(t.bonuses)
  const bets = new D(t.bets)
  if (bonuses.lte(0) || deposits.lte(0)) return undefined
  const needed = deposits.times(s.bonusAbuseWagerRatio)
  if (bets.gte(needed)) return undefined
  const wagered = bets.div(deposits).toNumber()
  return {
    reason: 'bonus_abuse',
    score: scorePast(s.bonusAbuseWagerRatio - wagered, 0, Math.max(s.bonusAbuseWagerRatio, 0.01)),
    action: 'hold',
    evidence: {
      deposited: deposits.toFixed(),
      bonuses: bonuses.toFixed(),
      wagered: bets.toFixed(),
      wagerRatio: Number(wagered.toFixed(2)),
      daysSinceFirstDeposit: Math.floor((at - t.ftdAt) / 86_400_000),
    },
  }
}

/** The tally after an event of the player (amounts in the event's currency; one currency per player assumed). */
export function tallied(t: FraudTally | undefined, e: Pick<ConversionEvent, 'kind' | 'amount' | 'details'>, at: number): FraudTally | undefined {
  if (e.kind === 'ftd') return { ftdAt: at, deposits: e.amount ?? '0', bonuses: '0', bets: '0' }
  if (!t) return undefined
  if (e.kind === 'deposit') return { ...t, deposits: new D(t.deposits).plus(e.amount ?? 0).toFixed() }
  if (e.kind === 'activity')
    return { ...t, bonuses: new D(t.bonuses).plus(e.details?.bonuses ?? 0).toFixed(), bets: new D(t.bets).plus(e.details?.bets ?? 0).toFixed() }
  return t
}
