/**
 * Entities live in JetStream KV buckets: compare-and-set updates, history per key, and a
 * watch so every tier keeps a live in-memory copy. This file holds the storage schemas and
 * the few operations the spine needs; the full entity model grows from here.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { KV, NatsConnection } from 'nats'
import { z } from 'zod'
import { AuditLog, type AuditEntity } from './audit.js'
import { ConflictError, NotFoundError } from './errors.js'
import { CONVERSION_KINDS, POSTBACK_FIELDS, SUB_IDS } from './events.js'
import { OUTBOUND_MACROS } from './vocabulary.js'

export { OUTBOUND_MACROS }
export { ConflictError, NotFoundError }
import { CidrSchema } from './ipallow.js'
import { AmountSchema, CurrencySchema } from './money.js'
import { openKv } from './nats.js'
import { BUCKETS } from './subjects.js'

export const AffiliateSchema = z.object({
  id: z.number().int().positive(),
  name: z.string(),
  email: z.string().optional(),
  /** the id the operator's previous platform knew it by (migration import) */
  externalId: z.string().optional(),
  /** the affiliate manager who looks after it */
  manager: z.string().optional(),
  /** the affiliate that recruited it (sub-affiliation) */
  parentId: z.number().int().positive().optional(),
  status: z.enum(['active', 'suspended']),
  createdAt: z.number().int(),
})
export type Affiliate = z.infer<typeof AffiliateSchema>

/** An http(s) URL (a destination template may hold {macros} in its path and query). It must
 *  be printable ASCII without spaces (percent-encode the rest): it becomes a Location header. */
export const HttpUrl = z
  .string()
  .max(2000)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces (percent-encode other characters)')
  .url()
  .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL')
  // A macro in the scheme, host or port would let a visitor's sub-id choose where it goes.
  .refine((u) => !/^[^/]*\/\/[^/?#]*[{}]/.test(u), 'may use macros only in the path and query, never in the host')

/** ISO 3166-1 alpha-2 country codes, as the IP lookup gives them. */
export const Markets = z
  .array(
    z
      .string()
      .toUpperCase()
      .regex(/^[A-Z]{2}$/, 'must be a two-letter country code such as DE'),
  )
  .max(250)

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

/** A brand: one of the operator's sites or products, which offers belong to. */
export const BrandSchema = z.object({
  id: z.number().int().positive(),
  name: z.string().trim().min(1).max(200),
  /** the brand's site, for operators' reference */
  url: HttpUrl.optional(),
  status: z.enum(['active', 'paused']).default('active'),
  createdAt: z.number().int(),
  updatedAt: z.number().int().optional(),
})
export type Brand = z.infer<typeof BrandSchema>
export const BrandInputSchema = BrandSchema.omit({ id: true, createdAt: true, updatedAt: true })

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

/** An offer (campaign): where its links send visitors, and where deep links may go. */
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
  /** the countries the offer is for; empty: every country */
  markets: Markets.default([]),
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


export const CpaVersionSchema = z.object({
  version: z.number().int().positive(),
  amount: AmountSchema,
  currency: CurrencySchema,
  /** ms epoch; the version applies to events at or after this time */
  effectiveFrom: z.number().int(),
  createdAt: z.number().int(),
})
export type CpaVersion = z.infer<typeof CpaVersionSchema>
export const CpaDealSchema = z.object({
  affiliateId: z.number().int().positive(),
  versions: z.array(CpaVersionSchema),
})
export type CpaDeal = z.infer<typeof CpaDealSchema>

/** A parameter name as an operator's platform sends it. */
const ParamName = z.string().regex(/^[A-Za-z0-9_.\-\[\]]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ . - [ ]')

export const SourceSettingsSchema = z.object({
  /** token: a secret in X-Postback-Token or `token`; hmac: X-Signature = HMAC-SHA256(secret, X-Timestamp + "." + raw body or query) */
  auth: z.enum(['token', 'hmac']).default('token'),
  /** addresses or CIDR ranges the source may post from; empty: any */
  ipAllow: z.array(CidrSchema).max(100).default([]),
  /** our field → the platform's parameter name, e.g. { player_id: 'userid' } */
  fieldMap: z.partialRecord(z.enum(POSTBACK_FIELDS), ParamName).default({}),
  /** the platform's event name → ours, e.g. { signup: 'registration' } */
  eventMap: z.record(ParamName, z.enum(CONVERSION_KINDS)).default({}),
})
export type SourceSettings = z.infer<typeof SourceSettingsSchema>

export const SourceSchema = SourceSettingsSchema.extend({
  id: z.number().int().positive(),
  name: z.string(),
  /** sha256 of the token (auth: token) */
  tokenHash: z.string(),
  /** the HMAC key itself (auth: hmac): verifying a signature needs it; never shown after creation */
  hmacSecret: z.string().optional(),
  /** After a rotation, the previous credential keeps working until previousValidUntil (ms
   *  epoch): the sha256 of the previous token, or the previous HMAC key. */
  previousTokenHash: z.string().optional(),
  previousHmacSecret: z.string().optional(),
  previousValidUntil: z.number().int().optional(),
  createdAt: z.number().int(),
  updatedAt: z.number().int().optional(),
})
export type Source = z.infer<typeof SourceSchema>


/** An affiliate's outbound postback: a URL template fired for the event kinds it names. */
export const EndpointSchema = z.object({
  id: z.number().int().positive(),
  affiliateId: z.number().int().positive(),
  events: z.array(z.enum(CONVERSION_KINDS)).min(1),
  url: z
    .string()
    .url()
    .max(2000)
    .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL')
    .refine((u) => [...u.matchAll(/\{([a-z0-9_]+)\}/g)].every((m) => (OUTBOUND_MACROS as readonly string[]).includes(m[1]!)), {
      message: `may use only the macros ${OUTBOUND_MACROS.map((m) => `{${m}}`).join(' ')}`,
    })
    // A macro in the scheme, host or port would let click data choose where we connect.
    .refine((u) => !/^[^/]*\/\/[^/?#]*[{}%]/.test(u), 'may use macros only in the path and query, never in the host'),
  status: z.enum(['active', 'paused']),
  createdAt: z.number().int(),
})
export type Endpoint = z.infer<typeof EndpointSchema>

const enc = new TextEncoder()
const dec = new TextDecoder()

export function sha256hex(s: string): string {
  return createHash('sha256').update(s).digest('hex')
}

/** Constant-time check of a presented secret against its stored sha256. */
export function secretMatches(presented: string, storedHash: string): boolean {
  const a = Buffer.from(sha256hex(presented), 'hex')
  const b = Buffer.from(storedHash, 'hex')
  return a.length === b.length && timingSafeEqual(a, b)
}


/**
 * The fields of an entity's input schema as a patch: each optional, its default removed (a
 * default would overwrite the stored value of every field the patch does not name), and an
 * optional field clearable with null. Unknown fields are refused.
 */
export function patchOf<S extends z.ZodRawShape>(schema: z.ZodObject<S>): z.ZodType<{ [K in keyof z.output<z.ZodObject<S>>]?: z.output<z.ZodObject<S>>[K] | null }> {
  const shape: Record<string, z.ZodType> = {}
  for (const [k, v] of Object.entries(schema.shape) as [string, z.ZodType][]) {
    if (v instanceof z.ZodDefault) shape[k] = (v.unwrap() as z.ZodType).optional()
    else if (v instanceof z.ZodOptional) shape[k] = (v.unwrap() as z.ZodType).nullable().optional()
    else shape[k] = v.optional()
  }
  return z.object(shape).strict() as never
}

/** Who made a change, for the audit log: "operator", "affiliate:<id>", "import", "system". */
export type Actor = string

/** The page a link sends visitors to: its landing page on the offer, else its own destination. */
export function linkDestination(link: Pick<Link, 'destination' | 'landingPageId'>, offer: Pick<Offer, 'landingPages'> | undefined): string {
  if (link.landingPageId === undefined || !offer) return link.destination
  return offer.landingPages.find((p) => p.id === link.landingPageId)?.url ?? link.destination
}

/** The countries a link is for: its own list, else its offer's; empty: every country. */
export function linkMarkets(link: Pick<Link, 'markets'>, offer: Pick<Offer, 'markets'> | undefined): readonly string[] {
  return link.markets ?? offer?.markets ?? []
}

export class EntityStore {
  private constructor(
    readonly brands: KV,
    readonly affiliates: KV,
    readonly links: KV,
    readonly deals: KV,
    readonly sources: KV,
    readonly counters: KV,
    readonly endpoints: KV,
    readonly offers: KV,
    readonly audit: AuditLog,
  ) {}

  static async open(nc: NatsConnection): Promise<EntityStore> {
    const [b, a, l, d, s, c, e, o] = await Promise.all(
      [BUCKETS.brands, BUCKETS.affiliates, BUCKETS.links, BUCKETS.deals, BUCKETS.sources, BUCKETS.counters, BUCKETS.endpoints, BUCKETS.offers].map((x) => openKv(nc, x)),
    )
    return new EntityStore(b!, a!, l!, d!, s!, c!, e!, o!, await AuditLog.open(nc))
  }

  /** Next id of a kind, allocated by compare-and-set on a counter. */
  async nextId(kind: string): Promise<number> {
    const key = `id.${kind}`
    for (;;) {
      const cur = await this.counters.get(key)
      const next = (cur ? Number(cur.string()) : 0) + 1
      try {
        if (cur && cur.operation === 'PUT') await this.counters.update(key, enc.encode(String(next)), cur.revision)
        else await this.counters.create(key, enc.encode(String(next)))
        return next
      } catch (err) {
        if (!isCasConflict(err)) throw err
      }
    }
  }

  /** Create a value under a new key (a ConflictError with `taken` when the key exists), then record it in the audit log. */
  async #create<T extends { id: number }>(kv: KV, key: string, value: T, entity: AuditEntity, by: Actor, at: number, taken = `${key} exists`): Promise<T> {
    try {
      await kv.create(key, enc.encode(JSON.stringify(value)))
    } catch (err) {
      if (isCasConflict(err)) throw new ConflictError(taken)
      throw err
    }
    await this.audit.append({ at, by, entity, key: String(value.id), action: 'create', after: value })
    return value
  }

  /** Compare-and-set update, then record before and after in the audit log. */
  async #update<T extends { id: number }>(kv: KV, key: string, schema: z.ZodType<T>, missing: string, change: (cur: T) => T, entity: AuditEntity, by: Actor, at: number): Promise<T> {
    const { before, after } = await updateJson(kv, key, schema, missing, change)
    await this.audit.append({ at, by, entity, key: String(after.id), action: 'update', before, after })
    return after
  }

  async createBrand(input: z.input<typeof BrandInputSchema>, now: number, by: Actor = 'system'): Promise<Brand> {
    const brand = BrandSchema.parse({ ...input, id: await this.nextId('brand'), createdAt: now })
    return this.#create(this.brands, `b.${brand.id}`, brand, 'brand', by, now)
  }

  async getBrand(id: number): Promise<Brand | undefined> {
    return readJson(this.brands, `b.${id}`, BrandSchema)
  }

  async listBrands(): Promise<Brand[]> {
    return listJson(this.brands, BrandSchema)
  }

  /** Change a brand; a field the patch does not name keeps its value, null clears an optional one. */
  async updateBrand(id: number, patch: object, now: number, by: Actor = 'system'): Promise<Brand> {
    return this.#update(this.brands, `b.${id}`, BrandSchema, `no brand ${id}`, (cur) => BrandSchema.parse({ ...mergePatch(cur, patch), updatedAt: now }), 'brand', by, now)
  }

  async createAffiliate(
    input: { name: string; email?: string; externalId?: string; manager?: string; parentId?: number },
    now: number,
    by: Actor = 'system',
  ): Promise<Affiliate> {
    const a: Affiliate = AffiliateSchema.parse({ id: await this.nextId('affiliate'), ...input, status: 'active', createdAt: now })
    if (input.externalId !== undefined) {
      // The external id is unique: its index entry is claimed first, by compare-and-set.
      try {
        await this.affiliates.create(externalKey(input.externalId), enc.encode(String(a.id)))
      } catch (err) {
        if (isCasConflict(err)) throw new ConflictError(`an affiliate with external id '${input.externalId}' exists`)
        throw err
      }
    }
    return this.#create(this.affiliates, `a.${a.id}`, a, 'affiliate', by, now)
  }

  /** Change an affiliate's name, email, status, manager or parent (null clears an optional one). */
  async updateAffiliate(
    id: number,
    patch: { name?: string; email?: string | null; status?: Affiliate['status']; manager?: string | null; parentId?: number | null },
    now: number = Date.now(),
    by: Actor = 'system',
  ): Promise<Affiliate> {
    if (patch.parentId !== undefined && patch.parentId !== null) {
      // the parent exists, and the chain above it never comes back to this affiliate
      let p: number | undefined = patch.parentId
      for (let depth = 0; p !== undefined; depth++) {
        if (p === id) throw new ConflictError('an affiliate cannot be its own parent, directly or through others')
        if (depth > 50) throw new ConflictError('the parent chain is too deep')
        const up: Affiliate | undefined = await this.getAffiliate(p)
        if (!up) throw new NotFoundError(`no affiliate ${p}`)
        p = up.parentId
      }
    }
    return this.#update(this.affiliates, `a.${id}`, AffiliateSchema, `no affiliate ${id}`, (cur) => AffiliateSchema.parse(mergePatch(cur, patch)), 'affiliate', by, now)
  }

  async findAffiliateByExternalId(externalId: string): Promise<Affiliate | undefined> {
    const e = await this.affiliates.get(externalKey(externalId))
    return e && e.operation === 'PUT' ? this.getAffiliate(Number(e.string())) : undefined
  }

  async getAffiliate(id: number): Promise<Affiliate | undefined> {
    return readJson(this.affiliates, `a.${id}`, AffiliateSchema)
  }

  async listAffiliates(): Promise<Affiliate[]> {
    return listJson(this.affiliates, AffiliateSchema, 'a.*')
  }

  async createLink(
    input: { affiliateId: number; destination: string; code?: string; offerId?: number } & z.input<typeof LinkSettingsSchema>,
    now: number,
    by: Actor = 'system',
  ): Promise<Link> {
    const { code: given, offerId, ...rest } = input
    const code = given ?? randomBytes(6).toString('base64url')
    const link = LinkSchema.parse({ ...rest, id: await this.nextId('link'), code, offerId: offerId ?? 0, status: 'active', createdAt: now })
    return this.#create(this.links, `code.${code}`, link, 'link', by, now, `link code '${code}' is taken`)
  }

  async listLinks(): Promise<Link[]> {
    return listJson(this.links, LinkSchema)
  }

  async getLinkById(id: number): Promise<Link | undefined> {
    return (await this.listLinks()).find((l) => l.id === id)
  }

  /** Change a link's status, landing page, default sub-ids, markets or geo rule (null clears one). */
  async updateLink(link: Pick<Link, 'id' | 'code'>, patch: object, now: number, by: Actor = 'system'): Promise<Link> {
    return this.#update(this.links, `code.${link.code}`, LinkSchema, `no link ${link.id}`, (cur) => LinkSchema.parse({ ...mergePatch(cur, patch), updatedAt: now }), 'link', by, now)
  }

  /** Append a CPA deal version. Versions never change once written; a new one applies from its effective date. */
  async addCpaVersion(affiliateId: number, v: { amount: string; currency: string; effectiveFrom: number }, now: number, by: Actor = 'system'): Promise<CpaDeal> {
    const key = `cpa.${affiliateId}`
    for (;;) {
      const cur = await this.deals.get(key)
      const deal: CpaDeal = cur && cur.operation === 'PUT' ? CpaDealSchema.parse(JSON.parse(cur.string())) : { affiliateId, versions: [] }
      const last = deal.versions.at(-1)
      if (last && v.effectiveFrom <= last.effectiveFrom) {
        throw new ConflictError(`effectiveFrom must be after the latest version's (${new Date(last.effectiveFrom).toISOString()})`)
      }
      const version: CpaVersion = { version: (last?.version ?? 0) + 1, amount: v.amount, currency: v.currency, effectiveFrom: v.effectiveFrom, createdAt: now }
      deal.versions.push(version)
      try {
        const data = enc.encode(JSON.stringify(deal))
        if (cur && cur.operation === 'PUT') await this.deals.update(key, data, cur.revision)
        else await this.deals.create(key, data)
      } catch (err) {
        if (!isCasConflict(err)) throw err
        continue
      }
      await this.audit.append({ at: now, by, entity: 'deal', key: `cpa.${affiliateId}`, action: last ? 'update' : 'create', after: version })
      return deal
    }
  }

  async listDeals(): Promise<CpaDeal[]> {
    return listJson(this.deals, CpaDealSchema)
  }

  /** Create a postback source. Its secret (a token, or an HMAC key) is returned once; a
   *  token is stored as its hash only. */
  async createSource(input: { name: string } & Partial<SourceSettings>, now: number, by: Actor = 'system'): Promise<{ source: Source; secret: string }> {
    const secret = randomBytes(24).toString('base64url')
    const settings = SourceSettingsSchema.parse(input)
    const source = SourceSchema.parse({
      id: await this.nextId('source'),
      name: input.name,
      ...settings,
      tokenHash: settings.auth === 'token' ? sha256hex(secret) : '',
      ...(settings.auth === 'hmac' ? { hmacSecret: secret } : {}),
      createdAt: now,
    })
    await this.#create(this.sources, `s.${source.id}`, source, 'source', by, now)
    return { source, secret }
  }

  /** Change a source's allow-list and mappings (not its credentials). */
  async updateSource(id: number, patch: object, now: number, by: Actor = 'system'): Promise<Source> {
    return this.#update(this.sources, `s.${id}`, SourceSchema, `no postback source ${id}`, (cur) => SourceSchema.parse({ ...mergePatch(cur, patch), updatedAt: now }), 'source', by, now)
  }

  /** A new secret for a source (token or HMAC key, as it has), returned once. With a grace
   *  period the previous secret keeps working until then; a rotation within a grace period
   *  ends the older one (only one previous secret is kept). */
  async rotateSource(id: number, graceMs: number, now: number, by: Actor = 'system'): Promise<{ source: Source; secret: string }> {
    const secret = randomBytes(24).toString('base64url')
    const source = await this.#update(
      this.sources,
      `s.${id}`,
      SourceSchema,
      `no postback source ${id}`,
      (cur) => {
        const { previousTokenHash: _t, previousHmacSecret: _h, previousValidUntil: _u, ...rest } = cur
        const previous = cur.auth === 'token' ? { previousTokenHash: cur.tokenHash } : { previousHmacSecret: cur.hmacSecret }
        return SourceSchema.parse({
          ...rest,
          ...(cur.auth === 'token' ? { tokenHash: sha256hex(secret) } : { hmacSecret: secret }),
          ...(graceMs > 0 ? { ...previous, previousValidUntil: now + graceMs } : {}),
          updatedAt: now,
        })
      },
      'source',
      by,
      now,
    )
    return { source, secret }
  }

  async createOffer(input: z.input<typeof OfferInputSchema>, now: number, by: Actor = 'system'): Promise<Offer> {
    const { attributionWindows: _history, ...fields } = input as z.input<typeof OfferInputSchema> & { attributionWindows?: unknown }
    const offer = withWindowHistory(undefined, OfferSchema.parse({ ...fields, id: await this.nextId('offer'), createdAt: now }), now)
    return this.#create(this.offers, `o.${offer.id}`, offer, 'offer', by, now)
  }

  async getOffer(id: number): Promise<Offer | undefined> {
    return readJson(this.offers, `o.${id}`, OfferSchema)
  }

  async listOffers(): Promise<Offer[]> {
    return listJson(this.offers, OfferSchema)
  }

  /** Change an offer; a field the patch does not name keeps its value, null clears an optional one. */
  async updateOffer(id: number, patch: object, now: number, by: Actor = 'system'): Promise<Offer> {
    // The history is the store's to write: a patch naming it is not obeyed.
    const { attributionWindows: _history, ...fields } = patch as { attributionWindows?: unknown }
    return this.#update(this.offers, `o.${id}`, OfferSchema, `no offer ${id}`, (cur) => withWindowHistory(cur, OfferSchema.parse({ ...mergePatch(cur, fields), updatedAt: now }), now), 'offer', by, now)
  }

  async createEndpoint(input: { affiliateId: number; events: Endpoint['events']; url: string }, now: number, by: Actor = 'system'): Promise<Endpoint> {
    const ep = EndpointSchema.parse({ id: await this.nextId('endpoint'), ...input, status: 'active', createdAt: now })
    return this.#create(this.endpoints, `e.${ep.id}`, ep, 'endpoint', by, now)
  }

  /** Change an endpoint's event kinds, URL or status. */
  async updateEndpoint(id: number, patch: Partial<Pick<Endpoint, 'events' | 'url' | 'status'>>, now: number, by: Actor = 'system'): Promise<Endpoint> {
    return this.#update(this.endpoints, `e.${id}`, EndpointSchema, `no endpoint ${id}`, (cur) => EndpointSchema.parse(mergePatch(cur, patch)), 'endpoint', by, now)
  }

  async listEndpoints(): Promise<Endpoint[]> {
    return listJson(this.endpoints, EndpointSchema)
  }

  async getEndpoint(id: number): Promise<Endpoint | undefined> {
    return readJson(this.endpoints, `e.${id}`, EndpointSchema)
  }

  async deleteEndpoint(id: number, now: number = Date.now(), by: Actor = 'system'): Promise<void> {
    const before = await this.getEndpoint(id)
    await this.endpoints.delete(`e.${id}`)
    if (before) await this.audit.append({ at: now, by, entity: 'endpoint', key: String(id), action: 'delete', before })
  }

  async listSources(): Promise<Source[]> {
    return listJson(this.sources, SourceSchema)
  }
}

/** A patch applied to a value: undefined leaves a field, null removes it. */
function mergePatch(cur: object, patch: object): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...cur }
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue
    if (v === null) delete merged[k]
    else merged[k] = v
  }
  return merged
}

export function isCasConflict(err: unknown): boolean {
  const m = String((err as Error)?.message ?? err)
  return m.includes('wrong last sequence') || m.includes('key exists')
}

async function readJson<T>(kv: KV, key: string, schema: z.ZodType<T>): Promise<T | undefined> {
  const e = await kv.get(key)
  if (!e || e.operation !== 'PUT') return undefined
  return schema.parse(JSON.parse(dec.decode(e.value)))
}

/** Read-modify-write of one JSON value by compare-and-set, redone on a concurrent change. */
async function updateJson<T>(kv: KV, key: string, schema: z.ZodType<T>, missing: string, change: (cur: T) => T): Promise<{ before: T; after: T }> {
  for (;;) {
    const cur = await kv.get(key)
    if (!cur || cur.operation !== 'PUT') throw new NotFoundError(missing)
    const before = schema.parse(JSON.parse(cur.string()))
    const after = change(before)
    try {
      await kv.update(key, enc.encode(JSON.stringify(after)), cur.revision)
      return { before, after }
    } catch (err) {
      if (!isCasConflict(err)) throw err
    }
  }
}

const externalKey = (externalId: string) => `x.${sha256hex(externalId).slice(0, 40)}`

async function listJson<T>(kv: KV, schema: z.ZodType<T>, filter?: string): Promise<T[]> {
  const out: T[] = []
  const keys = await kv.keys(filter)
  const names: string[] = []
  for await (const k of keys) names.push(k)
  for (const k of names) {
    const v = await readJson(kv, k, schema)
    if (v) out.push(v)
  }
  return out
}

/**
 * A live in-memory copy of a bucket, keyed by KV key, kept current by a KV watch. `ready`
 * resolves once the initial values are loaded, so a tier reports ready only with its
 * config in memory.
 */
export class WatchedBucket<T> {
  readonly map = new Map<string, T>()
  readonly ready: Promise<void>
  #stop: (() => void) | undefined

  /** `key`: a subject filter such as 'a.*' (default: every key) */
  constructor(kv: KV, schema: z.ZodType<T>, onError: (err: unknown, key: string) => void, key?: string) {
    this.ready = new Promise((resolve, reject) => {
      kv.watch({ initializedFn: () => resolve(), ...(key ? { key } : {}) })
        .then((iter) => {
          this.#stop = () => iter.stop()
          void (async () => {
            for await (const e of iter) {
              if (e.operation !== 'PUT') {
                this.map.delete(e.key)
                continue
              }
              try {
                this.map.set(e.key, schema.parse(JSON.parse(dec.decode(e.value))))
              } catch (err) {
                onError(err, e.key)
              }
            }
          })()
        })
        .catch(reject)
    })
  }

  stop() {
    this.#stop?.()
  }
}
