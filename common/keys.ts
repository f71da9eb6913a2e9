/**
 * Keys that order work, and the partition a key routes to. Every writer of a player's
 * events (ingest's postbacks, the API's reassignments, the migration import) and the
 * processor that keeps the player's state must agree on these, or a player's events would
 * land on two partitions and lose their order.
 */
import { hash } from 'node:crypto'

/** The key of everything about one player: its events, reassignments and imported binding. */
export const playerOrderKey = (playerId: string): string => `p:${playerId}`

/** The key that orders a conversion: the player when known, else the click, else the event itself. */
export function conversionOrderKey(e: { playerId?: string | undefined; clickId?: string | undefined; id: string }): string {
  return e.playerId ? playerOrderKey(e.playerId) : e.clickId ? `c:${e.clickId}` : `e:${e.id}`
}

/** KV key of the state kept for an ordering key (hashed: player ids are the platform's, any printable text). */
export function playerStateKey(e: { playerId?: string | undefined; clickId?: string | undefined; id: string }): string {
  return `p.${hash('sha256', conversionOrderKey(e)).slice(0, 40)}`
}

/** FNV-1a 32-bit: stable across processes and versions, cheap on the click path. */
export function fnv1a(key: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** The partition of the event stream a key routes to. */
export function partitionOf(key: string, partitions: number): number {
  return fnv1a(key) % partitions
}

/** The partition of a player's events. */
export const playerPartition = (playerId: string, partitions: number): number => partitionOf(playerOrderKey(playerId), partitions)
