/**
 * Fraud and traffic-quality findings, pure (one file per signal beside this one). A rule returns
 * a finding or nothing: a reason code from one closed set (common/vocabulary.ts), a score from
 * 0 to 100, the evidence a person can check, and the action DOMAIN's ladder gives it. A rule in
 * shadow mode is scored and shown, and acts on nothing (`decide`).
 */
import { FRAUD_ACTIONS, FRAUD_REASONS } from '../vocabulary.js'

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

/** The thresholds, per program, and the rules in shadow mode (common/entities/fraud.ts). */
export { DEFAULT_FRAUD_SETTINGS, type FraudSettings } from '../entities/fraud.js'
import type { FraudSettings } from '../entities/fraud.js'

const RANK: Record<FraudAction, number> = Object.fromEntries(FRAUD_ACTIONS.map((a, i) => [a, i])) as Record<FraudAction, number>

/**
 * What the findings about one click or conversion come to: the strongest action on the ladder
 * among the rules that act (a rule in shadow mode is kept, marked, and acts on nothing), and
 * the score (the highest). No finding: nothing to do.
 */
export function decide(
  findings: readonly Finding[],
  settings: Pick<FraudSettings, 'shadow'>,
): { action: FraudAction | 'none'; score: number; findings: (Finding & { shadow: boolean })[]; top?: Finding & { shadow: boolean } } {
  const marked = findings.map((f) => ({ ...f, shadow: settings.shadow[f.reason] === true }))
  let top: (Finding & { shadow: boolean }) | undefined
  // the first of the strongest: rules are asked in a fixed order, so the reason shown is stable
  for (const f of marked) if (!f.shadow && (!top || RANK[f.action] > RANK[top.action])) top = f
  return { action: top?.action ?? 'none', score: marked.reduce((m, f) => Math.max(m, f.score), 0), findings: marked, ...(top ? { top } : {}) }
}

/** A score from how far a value went past its threshold: 50 at the line, 100 at `span` past it. */
export function scorePast(value: number, threshold: number, span: number): number {
  if (span <= 0) return 100
  return Math.round(Math.min(100, 50 + (50 * Math.max(0, value - threshold)) / span))
}
