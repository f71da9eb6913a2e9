/**
 * Outbound postbacks: an affiliate's endpoints are told about its attributed conversions.
 * The contract three tiers share: the processor fans attributed conversions out into
 * deliveries, the query-api queues re-fires and test-fires, the notifier (notifier/)
 * delivers them.
 *
 * Fan-out (pure): each attributed conversion × each active endpoint of its affiliate that
 * names the event kind → one delivery, its URL expanded from the template. The processor
 * publishes deliveries onto the DELIVERIES work queue with `dl:<event>:<endpoint>` as
 * Nats-Msg-Id (a batch redone after a crash publishes the same ids; the stream keeps one).
 *
 * The notifier works the queue: one HTTP GET per try; a 2xx delivers; anything else is
 * retried with exponential backoff (the message is nak'ed with the delay) up to the last
 * try, after which it goes to the dead-letter stream. Every try is a row in
 * `postback_attempts`, written before the message is acknowledged.
 */
import type { Endpoint } from './entities.js'

/** An attributed conversion as an outbound postback sees it. */
export type Notice = {
  eventId: string
  kind: string
  ts: number
  affiliateId: number
  offerId: number
  clickId: string
  /** the player's pseudonym, never the id */
  player: string
  amount: string
  currency: string
}

export type Delivery = {
  /** Nats-Msg-Id and the attempt log's key */
  id: string
  endpointId: number
  affiliateId: number
  eventId: string
  kind: string
  url: string
  /** a test-fire: one try, never retried, no dead letter */
  test?: true
}

/** A test-fire's sample event id starts with this; a real one with its source id. */
export const TEST_EVENT_PREFIX = 'test:'

/** One try of a delivery, as the API shows it. */
export type AttemptView = {
  deliveryId: string
  eventId: string
  kind: string
  endpointId: number
  affiliateId: number
  attempt: number
  ts: string
  url: string
  statusCode: number
  error: string
  durationMs: number
  outcome: string
  /** a test-fire's try (its event id is a sample's, `test:…`) */
  test: boolean
}

/** The sub-ids of the click a conversion came through, by click id. */
export type ClickSubs = Map<string, Record<string, string>>

/** Whether an endpoint URL passes the click's sub-ids back (they take a lookup). */
export const usesSubs = (url: string) => /\{sub[1-5]\}/.test(url)

/** Whether any of these active endpoints wants the click's sub-ids. */
export function wantsSubs(endpoints: Iterable<Endpoint>): boolean {
  for (const e of endpoints) if (e.status === 'active' && usesSubs(e.url)) return true
  return false
}

export function expandOutbound(template: string, n: Notice, subs?: Record<string, string>): string {
  const vars: Record<string, string> = {
    sub1: subs?.sub1 ?? '',
    sub2: subs?.sub2 ?? '',
    sub3: subs?.sub3 ?? '',
    sub4: subs?.sub4 ?? '',
    sub5: subs?.sub5 ?? '',
    click_id: n.clickId,
    event: n.kind,
    event_id: n.eventId.slice(n.eventId.indexOf(':') + 1), // the platform's own id, without our source prefix
    amount: n.amount,
    currency: n.currency,
    player: n.player,
    affiliate_id: String(n.affiliateId),
    offer_id: String(n.offerId),
    ts: String(Math.floor(n.ts / 1000)),
  }
  return template.replace(/\{([a-z0-9_]+)\}/g, (m, k: string) => (Object.hasOwn(vars, k) ? encodeURIComponent(vars[k]!) : m))
}

/** One delivery of a conversion to an endpoint, under the given id. */
export function deliveryFor(id: string, n: Notice, e: Endpoint, subs?: Record<string, string>): Delivery {
  return { id, endpointId: e.id, affiliateId: e.affiliateId, eventId: n.eventId, kind: n.kind, url: expandOutbound(e.url, n, subs) }
}

export function deliveriesFor(notices: readonly Notice[], endpoints: Iterable<Endpoint>, subs?: ClickSubs): Delivery[] {
  const byAffiliate = new Map<number, Endpoint[]>()
  for (const e of endpoints) {
    if (e.status !== 'active') continue
    const list = byAffiliate.get(e.affiliateId) ?? []
    list.push(e)
    byAffiliate.set(e.affiliateId, list)
  }
  const out: Delivery[] = []
  for (const n of notices) {
    for (const e of byAffiliate.get(n.affiliateId) ?? []) {
      if (!(e.events as string[]).includes(n.kind)) continue
      out.push(deliveryFor(`dl:${n.eventId}:${e.id}`, n, e, subs?.get(n.clickId)))
    }
  }
  return out
}

/** Delay before try `attempt + 1` after try `attempt` failed: base, 2×base, 4×base, … capped at an hour. */
export function backoffMs(attempt: number, baseMs: number): number {
  return Math.min(baseMs * 2 ** (attempt - 1), 3_600_000)
}
