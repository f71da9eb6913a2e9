/**
 * Click-to-conversion time (CTIT): a registration or first deposit this soon after its click
 * was not caused by it (click injection, cookie stuffing, coupon poaching; clusters at 3–10 s
 * are typical of injection). Rejects the attribution.
 */
import type { Finding, FraudSettings } from '../../../common/fraud/finding.js'

export function ctit(clickAt: number, conversionAt: number, s: Pick<FraudSettings, 'ctitMinSeconds'>): Finding | undefined {
  const seconds = (conversionAt - clickAt) / 1000
  if (seconds < 0 || seconds >= s.ctitMinSeconds) return undefined
  // the shorter, the surer: 50 at the threshold, 100 at no time at all
  const score = Math.round(50 + 50 * (1 - seconds / s.ctitMinSeconds))
  return { reason: 'ctit_too_short', score, action: 'reject', evidence: { ctitSeconds: Number(seconds.toFixed(1)), thresholdSeconds: s.ctitMinSeconds } }
}
