/**
 * Fraud and traffic-quality findings, pure (one file per signal beside this one). A rule returns
 * a finding or nothing: a reason code from one closed set (common/vocabulary.ts), a score from
 * 0 to 100, the evidence a person can check, and the action DOMAIN's ladder gives it. A rule in
 * shadow mode is scored and shown, and acts on nothing (`decide`).
 */
import { FRAUD_ACTIONS, FRAUD_REASONS } from '../../../common/vocabulary.js'

export type FraudReason = (typeof FRAUD_REASONS)[number]
export type FraudAction = (typeof FRAUD_ACTIONS)[number]

export type Finding = {
  reason: FraudReason
  /** 0 (nothing) to 100 (certain) */
  score: number
  action: FraudAction
  /** what the rule saw, for the fraud team and the affiliate (no other affiliate's data) */
  evidence: Record<string, string | number>
}

/** The thresholds, per program (and per affiliate where it makes sense); DOMAIN's defaults. */
export type FraudSettings = {
  /** a conversion this soon after its click is injected (seconds) */
  ctitMinSeconds: number
  /** share of an affiliate's conversions arriving later than `lateAfterHours` after the click */
  lateShareMax: number
  lateAfterHours: number
  /** below this many conversions the share says nothing */
  lateMinConversions: number
  /** registrations per IP, device or payment hash per day */
  registrationsPerKeyPerDay: number
  /** conversion-rate anomaly: a z-score above this against the affiliate's own baseline */
  anomalyZ: number
  /** rules that score and show, and act on nothing */
  shadow: Partial<Record<FraudReason, boolean>>
}

export const DEFAULT_FRAUD_SETTINGS: FraudSettings = {
  ctitMinSeconds: 15,
  lateShareMax: 0.3,
  lateAfterHours: 24,
  lateMinConversions: 20,
  registrationsPerKeyPerDay: 5,
  anomalyZ: 3,
  shadow: {},
}

const RANK: Record<FraudAction, number> = Object.fromEntries(FRAUD_ACTIONS.map((a, i) => [a, i])) as Record<FraudAction, number>

/**
 * What the findings about one click or conversion come to: the strongest action on the ladder
 * among the rules that act (a rule in shadow mode is kept, marked, and acts on nothing), and
 * the score (the highest). No finding: nothing to do.
 */
export function decide(findings: readonly Finding[], settings: Pick<FraudSettings, 'shadow'>): { action: FraudAction | 'none'; score: number; findings: (Finding & { shadow: boolean })[] } {
  const marked = findings.map((f) => ({ ...f, shadow: settings.shadow[f.reason] === true }))
  let action: FraudAction | 'none' = 'none'
  for (const f of marked) if (!f.shadow && (action === 'none' || RANK[f.action] > RANK[action])) action = f.action
  return { action, score: marked.reduce((m, f) => Math.max(m, f.score), 0), findings: marked }
}

/** A score from how far a value went past its threshold: 50 at the line, 100 at `span` past it. */
export function scorePast(value: number, threshold: number, span: number): number {
  if (span <= 0) return 100
  return Math.round(Math.min(100, 50 + (50 * Math.max(0, value - threshold)) / span))
}
