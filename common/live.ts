/**
 * The live feed's contracts: what the processor publishes on `live.delta` after each batch,
 * and the WebSocket messages between the query-api and the dashboard. Socket messages are
 * one versioned union, discriminated by `type`: a client checks `v` and ignores a type it
 * does not know, so the server can add message types without breaking older dashboards.
 */

/** What a processed batch added for one affiliate in one minute. */
export type DeltaRow = {
  affiliateId: number
  /** start of the minute, ms epoch UTC */
  minute: number
  clicks: number
  registrations: number
  ftds: number
  unattributed: number
  /** clicks stored and not counted (a bot, a flood, a hosting address: the fraud rules); absent: none */
  filtered?: number
  /** currency → amount (decimal string) */
  commission: Record<string, string>
}

/** One batch's delta, tagged with its stream range: a reader that sees a range twice counts it once. */
export type LiveDelta = { consumer: string; from: number; to: number; rows: DeltaRow[] }

/** What a processed batch's fraud rules found (the fraud view's feed), tagged like a delta. */
export type LiveFindings = { consumer: string; from: number; to: number; findings: LiveFinding[] }
export type LiveFinding = {
  eventId: string
  kind: string
  ts: number
  affiliateId: number
  sub1: string
  playerRef: string
  clickId: string
  reason: string
  action: string
  score: number
  shadow: boolean
  evidence: Record<string, string | number>
  seq: number
  idx: number
}

export const LIVE_PROTOCOL_VERSION = 1

/** Who a socket is signed in as. */
export type LivePrincipal = { kind: 'operator' } | { kind: 'affiliate'; affiliateId: number }

/** server → client */
export type ServerMessage =
  | { v: typeof LIVE_PROTOCOL_VERSION; type: 'hello'; principal: LivePrincipal }
  | ({ v: typeof LIVE_PROTOCOL_VERSION; type: 'delta' } & LiveDelta)
  | ({ v: typeof LIVE_PROTOCOL_VERSION; type: 'fraud' } & LiveFindings)
  | { v: typeof LIVE_PROTOCOL_VERSION; type: 'error'; error: string; reason: string }

/** client → server: the first frame, within 5 s */
export type ClientMessage = { v?: typeof LIVE_PROTOCOL_VERSION; type: 'auth'; token: string }

/** Build a server message (the version is stamped here, once). */
export function serverMessage(m: DistributiveOmit<ServerMessage, 'v'>): ServerMessage {
  return { v: LIVE_PROTOCOL_VERSION, ...m } as ServerMessage
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never
