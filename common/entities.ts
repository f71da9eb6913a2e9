/**
 * Entities live in JetStream KV buckets: compare-and-set updates, history per key, and a
 * watch so every tier keeps a live in-memory copy. This file holds the storage schemas and
 * the few operations the spine needs; the full entity model grows from here.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { KV, NatsConnection } from 'nats'
import { z } from 'zod'
import { CONVERSION_KINDS, POSTBACK_FIELDS } from './events.js'
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

export const LINK_CODE = /^[A-Za-z0-9_-]{3,64}$/
export const LinkSchema = z.object({
  id: z.number().int().positive(),
  code: z.string().regex(LINK_CODE),
  affiliateId: z.number().int().positive(),
  offerId: z.number().int().nonnegative(),
  /** destination URL template; {click_id}, {affiliate_id}, {link_id}, {sub1}..{sub5} are substituted */
  destination: z.string().url(),
  status: z.enum(['active', 'paused']),
  createdAt: z.number().int(),
})
export type Link = z.infer<typeof LinkSchema>

/** A host name, or *.domain for the domain and its subdomains. */
const HostPattern = z
  .string()
  .toLowerCase()
  .regex(/^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, 'must be a host name such as brand.example or *.brand.example')

/** An offer (campaign): where its links send visitors, and where deep links may go. */
export const OfferSchema = z.object({
  id: z.number().int().positive(),
  name: z.string().min(1).max(200),
  /** the default destination of the offer's links; macros as for links */
  destination: z
    .string()
    .url()
    .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL'),
  /** hosts a link's ?url= deep link may point at; empty: no deep links */
  deepLinkHosts: z.array(HostPattern).max(100).default([]),
  /** click → registration window for this offer's clicks; default ATTRIBUTION_WINDOW_DAYS */
  attributionWindowDays: z.number().int().min(1).max(365).optional(),
  status: z.enum(['active', 'paused']).default('active'),
  createdAt: z.number().int(),
  updatedAt: z.number().int().optional(),
})
export type Offer = z.infer<typeof OfferSchema>
export const OfferInputSchema = OfferSchema.omit({ id: true, createdAt: true, updatedAt: true })

/** Whether a deep link may go to this URL: http(s), on a host the offer allows. */
export function deepLinkAllowed(offer: Pick<Offer, 'deepLinkHosts'>, url: string): boolean {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return false
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return false
  if (u.username || u.password) return false
  const host = u.hostname.toLowerCase()
  return offer.deepLinkHosts.some((p) => (p.startsWith('*.') ? host === p.slice(2) || host.endsWith(p.slice(1)) : host === p))
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
  createdAt: z.number().int(),
  updatedAt: z.number().int().optional(),
})
export type Source = z.infer<typeof SourceSchema>

/** The macros an outbound postback URL may use. */
export const OUTBOUND_MACROS = ['click_id', 'event', 'event_id', 'amount', 'currency', 'player', 'affiliate_id', 'offer_id', 'ts', 'sub1', 'sub2', 'sub3', 'sub4', 'sub5'] as const

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

export class ConflictError extends Error {}
export class NotFoundError extends Error {}

export class EntityStore {
  private constructor(
    readonly affiliates: KV,
    readonly links: KV,
    readonly deals: KV,
    readonly sources: KV,
    readonly counters: KV,
    readonly endpoints: KV,
    readonly offers: KV,
  ) {}

  static async open(nc: NatsConnection): Promise<EntityStore> {
    const [a, l, d, s, c, e, o] = await Promise.all(
      [BUCKETS.affiliates, BUCKETS.links, BUCKETS.deals, BUCKETS.sources, BUCKETS.counters, BUCKETS.endpoints, BUCKETS.offers].map((b) => openKv(nc, b)),
    )
    return new EntityStore(a!, l!, d!, s!, c!, e!, o!)
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

  async createAffiliate(input: { name: string; email?: string; externalId?: string }, now: number): Promise<Affiliate> {
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
    await this.affiliates.create(`a.${a.id}`, enc.encode(JSON.stringify(a)))
    return a
  }

  /** Change an affiliate's name, email, status, manager or parent (null clears an optional one). */
  async updateAffiliate(
    id: number,
    patch: { name?: string; email?: string | null; status?: Affiliate['status']; manager?: string | null; parentId?: number | null },
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
    return updateJson(this.affiliates, `a.${id}`, AffiliateSchema, `no affiliate ${id}`, (cur) => {
      const merged: Record<string, unknown> = { ...cur }
      for (const [k, v] of Object.entries(patch)) {
        if (v === undefined) continue
        if (v === null) delete merged[k]
        else merged[k] = v
      }
      return AffiliateSchema.parse(merged)
    })
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

  async createLink(input: { affiliateId: number; destination: string; code?: string; offerId?: number }, now: number): Promise<Link> {
    const code = input.code ?? randomBytes(6).toString('base64url')
    const link = LinkSchema.parse({
      id: await this.nextId('link'),
      code,
      affiliateId: input.affiliateId,
      offerId: input.offerId ?? 0,
      destination: input.destination,
      status: 'active',
      createdAt: now,
    })
    try {
      await this.links.create(`code.${code}`, enc.encode(JSON.stringify(link)))
    } catch (err) {
      if (isCasConflict(err)) throw new ConflictError(`link code '${code}' is taken`)
      throw err
    }
    return link
  }

  async listLinks(): Promise<Link[]> {
    return listJson(this.links, LinkSchema)
  }

  /** Append a CPA deal version. Versions never change once written; a new one applies from its effective date. */
  async addCpaVersion(affiliateId: number, v: { amount: string; currency: string; effectiveFrom: number }, now: number): Promise<CpaDeal> {
    const key = `cpa.${affiliateId}`
    for (;;) {
      const cur = await this.deals.get(key)
      const deal: CpaDeal = cur && cur.operation === 'PUT' ? CpaDealSchema.parse(JSON.parse(cur.string())) : { affiliateId, versions: [] }
      const last = deal.versions.at(-1)
      if (last && v.effectiveFrom <= last.effectiveFrom) {
        throw new ConflictError(`effectiveFrom must be after the latest version's (${new Date(last.effectiveFrom).toISOString()})`)
      }
      deal.versions.push({ version: (last?.version ?? 0) + 1, amount: v.amount, currency: v.currency, effectiveFrom: v.effectiveFrom, createdAt: now })
      try {
        const data = enc.encode(JSON.stringify(deal))
        if (cur && cur.operation === 'PUT') await this.deals.update(key, data, cur.revision)
        else await this.deals.create(key, data)
        return deal
      } catch (err) {
        if (!isCasConflict(err)) throw err
      }
    }
  }

  async listDeals(): Promise<CpaDeal[]> {
    return listJson(this.deals, CpaDealSchema)
  }

  /** Create a postback source. Its secret (a token, or an HMAC key) is returned once; a
   *  token is stored as its hash only. */
  async createSource(input: { name: string } & Partial<SourceSettings>, now: number): Promise<{ source: Source; secret: string }> {
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
    await this.sources.create(`s.${source.id}`, enc.encode(JSON.stringify(source)))
    return { source, secret }
  }

  /** Change a source's allow-list and mappings (not its credentials). */
  async updateSource(id: number, patch: Partial<Omit<SourceSettings, 'auth'>>, now: number): Promise<Source> {
    return updateJson(this.sources, `s.${id}`, SourceSchema, `no postback source ${id}`, (cur) => SourceSchema.parse({ ...cur, ...patch, updatedAt: now }))
  }

  async createOffer(input: z.input<typeof OfferInputSchema>, now: number): Promise<Offer> {
    const offer = OfferSchema.parse({ ...input, id: await this.nextId('offer'), createdAt: now })
    await this.offers.create(`o.${offer.id}`, enc.encode(JSON.stringify(offer)))
    return offer
  }

  async getOffer(id: number): Promise<Offer | undefined> {
    return readJson(this.offers, `o.${id}`, OfferSchema)
  }

  async listOffers(): Promise<Offer[]> {
    return listJson(this.offers, OfferSchema)
  }

  async updateOffer(id: number, patch: Partial<z.input<typeof OfferInputSchema>>, now: number): Promise<Offer> {
    return updateJson(this.offers, `o.${id}`, OfferSchema, `no offer ${id}`, (cur) => OfferSchema.parse({ ...cur, ...patch, updatedAt: now }))
  }

  async createEndpoint(input: { affiliateId: number; events: Endpoint['events']; url: string }, now: number): Promise<Endpoint> {
    const ep = EndpointSchema.parse({ id: await this.nextId('endpoint'), ...input, status: 'active', createdAt: now })
    await this.endpoints.create(`e.${ep.id}`, enc.encode(JSON.stringify(ep)))
    return ep
  }

  async listEndpoints(): Promise<Endpoint[]> {
    return listJson(this.endpoints, EndpointSchema)
  }

  async getEndpoint(id: number): Promise<Endpoint | undefined> {
    return readJson(this.endpoints, `e.${id}`, EndpointSchema)
  }

  async deleteEndpoint(id: number): Promise<void> {
    await this.endpoints.delete(`e.${id}`)
  }

  async listSources(): Promise<Source[]> {
    return listJson(this.sources, SourceSchema)
  }
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
async function updateJson<T>(kv: KV, key: string, schema: z.ZodType<T>, missing: string, change: (cur: T) => T): Promise<T> {
  for (;;) {
    const cur = await kv.get(key)
    if (!cur || cur.operation !== 'PUT') throw new NotFoundError(missing)
    const next = change(schema.parse(JSON.parse(cur.string())))
    try {
      await kv.update(key, enc.encode(JSON.stringify(next)), cur.revision)
      return next
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

  constructor(kv: KV, schema: z.ZodType<T>, onError: (err: unknown, key: string) => void) {
    this.ready = new Promise((resolve, reject) => {
      kv.watch({ initializedFn: () => resolve() })
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
