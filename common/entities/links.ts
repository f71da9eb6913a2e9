/** Tracking links: an affiliate's code that sends a visitor on to an offer's page. */
import { randomBytes } from 'node:crypto'
import { z } from 'zod'
import { SUB_IDS } from '../events.js'
import { HttpUrl, Markets } from './fields.js'
import { type Actor, mergePatch, Repository } from './kv.js'
import type { Offer } from './offers.js'

/** What a link does with a visitor from a country outside its markets. */
export const GeoRuleSchema = z
  .object({
    outside: z.enum(['block', 'redirect']),
    /** where a visitor from outside goes (outside: redirect); macros as for destinations */
    redirectUrl: HttpUrl.optional(),
  })
  .refine((g) => g.outside === 'block' || g.redirectUrl !== undefined, { message: 'a redirect rule needs a redirectUrl', path: ['redirectUrl'] })
export type GeoRule = z.infer<typeof GeoRuleSchema>

const SubDefaults = z.partialRecord(z.enum(SUB_IDS), z.string().max(512))

export const LINK_CODE = /^[A-Za-z0-9_-]{3,64}$/
export const LinkSchema = z.object({
  id: z.number().int().positive(),
  code: z.string().regex(LINK_CODE),
  affiliateId: z.number().int().positive(),
  offerId: z.number().int().nonnegative(),
  /** destination URL template; {click_id}, {affiliate_id}, {link_id}, {offer_id}, {sub1}..{sub5} are substituted */
  destination: z.string().url(),
  /** the offer's landing page this link sends visitors to (instead of `destination`) */
  landingPageId: z.string().optional(),
  /** sub-ids the link adds to every click unless the click carries its own */
  subs: SubDefaults.optional(),
  /** countries the link is for; default: its offer's markets */
  markets: Markets.optional(),
  /** what happens to traffic from outside the markets; none: it is let through */
  geo: GeoRuleSchema.optional(),
  status: z.enum(['active', 'paused']),
  createdAt: z.number().int(),
  updatedAt: z.number().int().optional(),
})
export type Link = z.infer<typeof LinkSchema>
export const LinkSettingsSchema = LinkSchema.pick({ landingPageId: true, subs: true, markets: true, geo: true })

/** The page a link sends visitors to: its landing page on the offer, else its own destination. */
export function linkDestination(link: Pick<Link, 'destination' | 'landingPageId'>, offer: Pick<Offer, 'landingPages'> | undefined): string {
  if (link.landingPageId === undefined || !offer) return link.destination
  return offer.landingPages.find((p) => p.id === link.landingPageId)?.url ?? link.destination
}

/** The countries a link is for: its own list, else its offer's; empty: every country. */
export function linkMarkets(link: Pick<Link, 'markets'>, offer: Pick<Offer, 'markets'> | undefined): readonly string[] {
  return link.markets ?? offer?.markets ?? []
}

/** Links are keyed by code (the click path looks them up by it); the store's index also finds them by id. */
const key = (code: string) => `code.${code}`

export class LinkRepository extends Repository<Link> {
  async create(
    input: { affiliateId: number; destination: string; code?: string; offerId?: number } & z.input<typeof LinkSettingsSchema>,
    now: number,
    by: Actor = 'system',
  ): Promise<Link> {
    const { code: given, offerId, ...rest } = input
    const code = given ?? randomBytes(6).toString('base64url')
    const link = LinkSchema.parse({ ...rest, id: await this.ids.next('link'), code, offerId: offerId ?? 0, status: 'active', createdAt: now })
    return this.bucket.create(key(code), link, by, now, `link code '${code}' is taken`)
  }

  get(id: number): Link | undefined {
    return this.view.byId(id)
  }

  byCode(code: string): Link | undefined {
    return this.bucket.get(key(code))
  }

  /** Change a link's status, landing page, default sub-ids, markets or geo rule (null clears one). */
  async update(link: Pick<Link, 'id' | 'code'>, patch: object, now: number, by: Actor = 'system'): Promise<Link> {
    return this.bucket.update(key(link.code), `no link ${link.id}`, (cur) => LinkSchema.parse({ ...mergePatch(cur, patch), updatedAt: now }), by, now)
  }
}
