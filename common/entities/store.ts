/**
 * The entity store a tier opens: one repository per entity, each over its JetStream KV
 * bucket and a live in-memory index of it. Lists and gets read the index (no KV reads per
 * request); writes go to KV by compare-and-set and into the index from their own result,
 * so a process reads its own writes at once and other processes' once its watch delivers them.
 */
import type { NatsConnection } from 'nats'
import type { z } from 'zod'
import { AuditLog, type AuditEntity } from '../audit.js'
import { openKv } from '../nats.js'
import { BUCKETS } from '../subjects.js'
import { AFFILIATE_KEYS, AffiliateRepository, AffiliateSchema } from './affiliates.js'
import { BrandRepository, BrandSchema } from './brands.js'
import { DealRepository, StoredDealSchema } from './deals.js'
import { FxRepository, StoredFxRateSchema } from './fx.js'
import { EndpointRepository, EndpointSchema } from './endpoints.js'
import { EntityBucket, IdCounter, type OnUnreadable } from './kv.js'
import { LinkRepository, LinkSchema } from './links.js'
import { OfferRepository, OfferSchema } from './offers.js'
import { SourceRepository, SourceSchema } from './sources.js'
import { FraudSettingsRepository, StoredFraudSettingsSchema } from './fraud.js'

export class EntityStore {
  private constructor(
    readonly brands: BrandRepository,
    readonly affiliates: AffiliateRepository,
    readonly links: LinkRepository,
    readonly deals: DealRepository,
    readonly sources: SourceRepository,
    readonly endpoints: EndpointRepository,
    readonly offers: OfferRepository,
    readonly fx: FxRepository,
    readonly fraud: FraudSettingsRepository,
    readonly audit: AuditLog,
  ) {}

  /** Open every entity bucket and load its index; resolves once all are in memory.
   *  `onUnreadable`: what to do with a stored value its schema refuses (it is left out). */
  static async open(nc: NatsConnection, onUnreadable: OnUnreadable = reportUnreadable): Promise<EntityStore> {
    const audit = await AuditLog.open(nc)
    const ids = new IdCounter(await openKv(nc, BUCKETS.counters))
    const bucket = async <T>(name: string, schema: z.ZodType<T>, entity: AuditEntity, opts?: { filter?: string; idOf?: (v: T) => number }) =>
      new EntityBucket(await openKv(nc, name), schema, audit, entity, onUnreadable, opts)
    const [b, a, l, d, s, e, o, fx, fr] = await Promise.all([
      bucket(BUCKETS.brands, BrandSchema, 'brand'),
      bucket(BUCKETS.affiliates, AffiliateSchema, 'affiliate', { filter: AFFILIATE_KEYS, idOf: (a) => a.id }),
      bucket(BUCKETS.links, LinkSchema, 'link', { idOf: (l) => l.id }),
      bucket(BUCKETS.deals, StoredDealSchema, 'deal'),
      bucket(BUCKETS.sources, SourceSchema, 'source'),
      bucket(BUCKETS.endpoints, EndpointSchema, 'endpoint'),
      bucket(BUCKETS.offers, OfferSchema, 'offer'),
      bucket(BUCKETS.fx, StoredFxRateSchema, 'fx_rate'),
      bucket(BUCKETS.fraud, StoredFraudSettingsSchema, 'fraud_settings'),
    ])
    const store = new EntityStore(
      new BrandRepository(b, ids),
      new AffiliateRepository(a, ids),
      new LinkRepository(l, ids),
      new DealRepository(d, ids, audit),
      new SourceRepository(s, ids),
      new EndpointRepository(e, ids),
      new OfferRepository(o, ids),
      new FxRepository(fx, audit),
      new FraudSettingsRepository(fr, ids),
      audit,
    )
    try {
      await Promise.all(store.#all().map((r) => r.view.ready))
    } catch (err) {
      store.stop()
      throw err
    }
    return store
  }

  #all() {
    return [this.brands, this.affiliates, this.links, this.deals, this.sources, this.endpoints, this.offers, this.fx, this.fraud]
  }

  /** End the watches. */
  stop(): void {
    for (const r of this.#all()) r.view.stop()
  }
}

function reportUnreadable(err: unknown, key: string): void {
  console.error(`unreadable entity ${key} in KV, left out:`, err)
}
