import { createHmac } from 'node:crypto'

/** Keyed hash of a player id: what analytics, the portal and the audit log see instead of the id. */
export function pseudonymizer(secret: string): (playerId: string) => string {
  return (id) => createHmac('sha256', secret).update(id).digest('hex').slice(0, 32)
}
