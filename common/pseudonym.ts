import { createHmac } from 'node:crypto'

/** Keyed hash of a player id: what analytics, the portal and the audit log see instead of the id. */
export function pseudonymizer(secret: string): (playerId: string) => string {
  // a player's events come in runs: its pseudonym is kept for the next (bounded; emptied when full)
  const known = new Map<string, string>()
  return (id) => {
    let p = known.get(id)
    if (p === undefined) {
      if (known.size >= 100_000) known.clear()
      p = createHmac('sha256', secret).update(id).digest('hex').slice(0, 32)
      known.set(id, p)
    }
    return p
  }
}
