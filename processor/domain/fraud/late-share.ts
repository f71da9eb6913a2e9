/**
 * Late-conversion share per affiliate: click spamming shows as many conversions arriving long
 * after their click (normal: ~75% within 1 h, ~94% within 24 h). Flags at the threshold, holds
 * at twice its excess.
 */
import { scorePast, type Finding, type FraudSettings } from '../../../common/fraud/finding.js'

export function lateShare(
  conversions: number,
  late: number,
  s: Pick<FraudSettings, 'lateShareMax' | 'lateAfterHours' | 'lateMinConversions'>,
): Finding | undefined {
  if (conversions < s.lateMinConversions || conversions <= 0) return undefined
  const share = late / conversions
  if (share <= s.lateShareMax) return undefined
  const hold = share >= s.lateShareMax + (1 - s.lateShareMax) / 2
  return {
    reason: 'late_conversions',
    score: scorePast(share, s.lateShareMax, 1 - s.lateShareMax),
    action: hold ? 'hold' : 'flag',
    evidence: { conversions, lateConversions: late, share: Number(share.toFixed(3)), lateAfterHours: s.lateAfterHours, thresholdShare: s.lateShareMax },
  }
}
