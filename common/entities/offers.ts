/** Offers (campaigns): where their links send visitors, and where deep links may go. */
import { z } from 'zod'
import { HttpUrl, Markets } from './fields.js'
import { type Actor, mergePatch, Repository } from './kv.js'

/** A landing page of an offer a link may send visitors to. */
export const LandingPageSchema = z.object({
  id: z.string().regex(/^[a-z0-9_-]{1,32}$/, 'must be 1-32 characters of a-z 0-9 _ -'),
  name: z.string().trim().min(1).max(200),
  url: HttpUrl,
})
export type LandingPage = z.infer<typeof LandingPageSchema>

/** A host name, or *.domain for the domain and its subdomains. */
const HostPattern = z
  .string()
  .toLowerCase()
  .regex(/^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, 'must be a host name such as brand.example or *.brand.example')

/** A window of an offer from a time on (days null: the default, ATTRIBUTION_WINDOW_DAYS). */
export const WindowVersionSchema = z.object({
  days: z.number().int().min(1).max(365).nullable(),
  /** ms epoch: the time of the change. Never earlier: a change is never retroactive. */
  effectiveFrom: z.number().int(),
})
export type WindowVersion = z.infer<typeof WindowVersionSchema>

export const OfferSchema = z.object({
  id: z.number().int().positive(),
  name: z.string().min(1).max(200),
  /** the brand the offer belongs to (0: none) */
  brandId: z.number().int().nonnegative().default(0),
  /** the default destination of the offer's links; macros as for links */
  destination: HttpUrl,
  /** hosts a link's ?url= deep link may point at; empty: no deep links */
  deepLinkHosts: z.array(HostPattern).max(100).default([]),
  /** landing pages links may choose instead of the default destination */
  landingPages: z
    .array(LandingPageSchema)
    .max(100)
    .refine((ps) => new Set(ps.map((p) => p.id)).size === ps.length, 'landing page ids must be unique')
    .default([]),
  /** the countries the offer is for; empty: every country (a click from elsewhere is flagged, geo_mismatch) */
  markets: Markets.default([]),
  /** whether the terms forbid paid search (brand bidding): a click with gclid, fbclid or msclkid is flagged */
  paidSearch: z.enum(['allowed', 'forbidden']).default('allowed'),
  /** click → registration window for this offer's clicks; default ATTRIBUTION_WINDOW_DAYS */
  attributionWindowDays: z.number().int().min(1).max(365).optional(),
  /** every value attributionWindowDays had, oldest first, appended by the store on each
   *  change; the processor chooses by time (a replay attributes the same). Absent on offers
   *  stored before it existed: windowVersions(). */
  attributionWindows: z.array(WindowVersionSchema).optional(),
  status: z.enum(['active', 'paused']).default('active'),
  createdAt: z.number().int(),
  updatedAt: z.number().int().optional(),
})
export type Offer = z.infer<typeof OfferSchema>
export const OfferInputSchema = OfferSchema.omit({ id: true, createdAt: true, updatedAt: true, attributionWindows: true })

/** An offer's window versions. An offer stored before versions were kept has only its current
 *  window, which the processor applied to every click: it stands from the beginning, so a
 *  replay attributes as the processor did then. */
export function windowVersions(o: Pick<Offer, 'attributionWindowDays' | 'attributionWindows'>): WindowVersion[] {
  return o.attributionWindows ?? (o.attributionWindowDays !== undefined ? [{ days: o.attributionWindowDays, effectiveFrom: 0 }] : [])
}

/** The offer after a change, its window history extended when the window changed (from `now`). */
export function withWindowHistory(cur: Offer | undefined, next: Offer, now: number): Offer {
  if (cur ? cur.attributionWindowDays === next.attributionWindowDays : next.attributionWindowDays === undefined) return next
  const before = cur ? windowVersions(cur) : []
  // never before the last change (another host's clock may lag): versions stay in order
  const effectiveFrom = Math.max(now, before.at(-1)?.effectiveFrom ?? now)
  return { ...next, attributionWindows: [...before, { days: next.attributionWindowDays ?? null, effectiveFrom }] }
}

/** Where a deep link may go: the URL normalised (percent-encoded, safe as a Location header)
 *  when it is http(s) on a host the offer allows; else undefined. */
export function deepLinkTarget(offer: Pick<Offer, 'deepLinkHosts'>, url: string): string | undefined {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return undefined
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return undefined
  if (u.username || u.password) return undefined
  const host = u.hostname.toLowerCase()
  return offer.deepLinkHosts.some((p) => (p.startsWith('*.') ? host === p.slice(2) || host.endsWith(p.slice(1)) : host === p)) ? u.href : undefined
}

const key = (id: number) => `o.${id}`

export class OfferRepository extends Repository<Offer> {
  async create(input: z.input<typeof OfferInputSchema>, now: number, by: Actor = 'system'): Promise<Offer> {
    const { attributionWindows: _history, ...fields } = input as z.input<typeof OfferInputSchema> & { attributionWindows?: unknown }
    const offer = withWindowHistory(undefined, OfferSchema.parse({ ...fields, id: await this.ids.next('offer'), createdAt: now }), now)
    return this.bucket.create(key(offer.id), offer, by, now)
  }

  get(id: number): Offer | undefined {
    return this.bucket.get(key(id))
  }

  /** Change an offer; a field the patch does not name keeps its value, null clears an optional one. */
  async update(id: number, patch: object, now: number, by: Actor = 'system'): Promise<Offer> {
    // The history is the store's to write: a patch naming it is not obeyed.
    const { attributionWindows: _history, ...fields } = patch as { attributionWindows?: unknown }
    return this.bucket.update(
      key(id),
      `no offer ${id}`,
      (cur) => withWindowHistory(cur, OfferSchema.parse({ ...mergePatch(cur, fields), updatedAt: now }), now),
      by,
      now,
    )
  }
}
