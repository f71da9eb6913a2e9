/**
 * Too many registrations from one IP, device or payment-method hash in a day: multi-accounting
 * and bonus abuse. Holds the CPA. A payment hash shared by players is one finding per player.
 */
import { scorePast, type Finding, type FraudSettings } from '../../../common/fraud/finding.js'

export function registrationsPerKey(
  kind: 'ip' | 'device' | 'payment',
  count: number,
  s: Pick<FraudSettings, 'registrationsPerKeyPerDay'>,
): Finding | undefined {
  const limit = kind === 'payment' ? 1 : s.registrationsPerKeyPerDay
  if (count <= limit) return undefined
  return {
    reason: kind === 'payment' ? 'shared_payment' : 'multi_account',
    score: scorePast(count, limit, Math.max(1, limit)),
    action: 'hold',
    evidence: { key: kind, registrationsToday: count, limitPerDay: limit },
  }
}
