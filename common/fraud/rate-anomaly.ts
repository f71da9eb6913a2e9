/**
 * A conversion-rate anomaly per affiliate or sub-id, against its own baseline: incentivised or
 * fake traffic. The rate now against the rates of the baseline's windows (e.g. the last 7 days
 * against the prior 5 weeks): a z-score above the threshold flags. Rates are conversions per
 * click; a baseline too short, or with no spread, says nothing.
 */
import { scorePast, type Finding, type FraudSettings } from './finding.js'

export function rateAnomaly(
  now: { clicks: number; conversions: number },
  baseline: readonly { clicks: number; conversions: number }[],
  s: Pick<FraudSettings, 'anomalyZ'>,
): Finding | undefined {
  const rates = baseline.filter((b) => b.clicks > 0).map((b) => b.conversions / b.clicks)
  if (rates.length < 3 || now.clicks <= 0) return undefined
  const mean = rates.reduce((a, r) => a + r, 0) / rates.length
  const sd = Math.sqrt(rates.reduce((a, r) => a + (r - mean) ** 2, 0) / (rates.length - 1))
  if (sd === 0) return undefined
  const rate = now.conversions / now.clicks
  const z = (rate - mean) / sd
  if (z <= s.anomalyZ) return undefined
  return {
    reason: 'rate_anomaly',
    score: scorePast(z, s.anomalyZ, s.anomalyZ),
    action: 'flag',
    evidence: { rate: Number(rate.toFixed(4)), baselineMean: Number(mean.toFixed(4)), baselineSd: Number(sd.toFixed(4)), z: Number(z.toFixed(2)) },
  }
}
