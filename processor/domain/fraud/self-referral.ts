/**
 * Self-referral: the affiliate's own e-mail, payment details or device are the player's. Holds.
 * Compared by keyed hashes, never in the clear.
 */
import { createHash } from 'node:crypto'
import type { Finding } from '../../../common/fraud/finding.js'

/** An e-mail address as the operator's platform hashes it for `email_hash`: sha256 of the
 *  trimmed, lower-cased address, hex. */
export function emailHash(email: string): string {
  return createHash('sha256').update(email.trim().toLowerCase()).digest('hex')
}

export type Identity = { email?: string; payment?: string; device?: string }

export function selfReferral(affiliate: Identity, player: Identity): Finding | undefined {
  const same = (['email', 'payment', 'device'] as const).filter((k) => affiliate[k] !== undefined && affiliate[k] !== '' && affiliate[k] === player[k])
  if (same.length === 0) return undefined
  return { reason: 'self_referral', score: Math.min(100, 60 + 20 * same.length), action: 'hold', evidence: { matching: same.join(', ') } }
}
