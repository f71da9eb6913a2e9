/**
 * Deals: per affiliate (optionally per brand and country), versions that each apply from
 * their effective date and never change once written. Two shapes live in the bucket: the
 * deal model (`deal.<n>`, common/deals.ts) and the flat CPA deal the API stored before it
 * (`cpa.<affiliate>`), read as a deal that pays only a CPA on the first deposit.
 */
import { z } from 'zod'
import { DealSchema, fromCpaDeal, type Deal, type DealTerms } from '../deals.js'
import type { AuditLog } from '../audit.js'
import { ConflictError, NotFoundError } from '../errors.js'
import { AmountSchema, StoredCurrencySchema } from '../money.js'
import { type Actor, type EntityBucket, encodeJson, type IdCounter, isCasConflict, Repository } from './kv.js'

export const CpaVersionSchema = z.object({
  version: z.number().int().positive(),
  amount: AmountSchema,
  /** checked against ISO 4217 where it enters (the API); read by shape, so a stored version stays readable */
  currency: StoredCurrencySchema,
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

const key = (affiliateId: number) => `cpa.${affiliateId}`

/** What the bucket holds: a deal, or a flat CPA deal stored before the deal model. */
export const StoredDealSchema = z.union([DealSchema, CpaDealSchema])
export type StoredDeal = z.infer<typeof StoredDealSchema>
export const isCpaDeal = (x: StoredDeal): x is CpaDeal => !('id' in x)
export const asDeal = (x: StoredDeal): Deal => (isCpaDeal(x) ? fromCpaDeal(x) : x)

export class DealRepository extends Repository<StoredDeal> {
  constructor(
    bucket: EntityBucket<StoredDeal>,
    ids: IdCounter,
    private readonly audit: AuditLog,
  ) {
    super(bucket, ids)
  }

  /** The flat CPA deal of an affiliate, if it has one. */
  get(affiliateId: number): CpaDeal | undefined {
    const d = this.bucket.get(key(affiliateId))
    return d && isCpaDeal(d) ? d : undefined
  }

  /** Every deal, flat CPA deals read as deals. */
  deals(): Deal[] {
    return this.list().map(asDeal)
  }

  byId(id: string): Deal | undefined {
    const m = /^cpa\.(\d+)$/.exec(id)
    const d = this.bucket.get(m ? id : `deal.${id.replace(/^d/, '')}`)
    return d ? asDeal(d) : undefined
  }

  /** A new deal with its first version. */
  async create(input: { name: string; affiliateId?: number; group?: string; brandId?: number; country?: string; effectiveFrom: number; terms: DealTerms }, now: number, by: Actor = 'system'): Promise<Deal> {
    const n = await this.ids.next('deal')
    const { effectiveFrom, terms, ...rest } = input
    const deal: Deal = { id: `d${n}`, ...rest, versions: [{ version: 1, effectiveFrom, createdAt: now, terms }] }
    const k = `deal.${n}`
    const revision = await this.bucket.kv.create(k, encodeJson(deal))
    this.view.apply(k, deal, revision)
    await this.audit.append({ at: now, by, entity: 'deal', key: k, action: 'create', after: deal })
    return deal
  }

  /** Append a version to a deal: it applies from its effective date, which comes after the latest version's. */
  async addVersion(id: string, v: { effectiveFrom: number; terms: DealTerms }, now: number, by: Actor = 'system'): Promise<Deal> {
    const m = /^d(\d+)$/.exec(id)
    if (!m) throw new ConflictError(`deal ${id} is not a composed deal (a flat CPA deal takes versions through /api/deals/cpa)`)
    const k = `deal.${m[1]}`
    for (;;) {
      const cur = await this.bucket.read(k)
      if (!cur || isCpaDeal(cur.value)) throw new NotFoundError(`no deal ${id}`)
      const deal = cur.value
      const last = deal.versions.at(-1)!
      if (v.effectiveFrom <= last.effectiveFrom) throw new ConflictError(`effectiveFrom must be after the latest version's (${new Date(last.effectiveFrom).toISOString()})`)
      const version = { version: last.version + 1, effectiveFrom: v.effectiveFrom, createdAt: now, terms: v.terms }
      const next: Deal = { ...deal, versions: [...deal.versions, version] }
      let revision: number
      try {
        revision = await this.bucket.kv.update(k, encodeJson(next), cur.revision)
      } catch (err) {
        if (!isCasConflict(err)) throw err
        continue
      }
      this.view.apply(k, next, revision)
      await this.audit.append({ at: now, by, entity: 'deal', key: k, action: 'update', after: version })
      return next
    }
  }

  /** Append a CPA deal version. Versions never change once written; a new one applies from its effective date. */
  async addCpaVersion(affiliateId: number, v: { amount: string; currency: string; effectiveFrom: number }, now: number, by: Actor = 'system'): Promise<CpaDeal> {
    const k = key(affiliateId)
    for (;;) {
      const cur = await this.bucket.read(k)
      const deal: CpaDeal = cur && isCpaDeal(cur.value) ? cur.value : { affiliateId, versions: [] }
      const last = deal.versions.at(-1)
      if (last && v.effectiveFrom <= last.effectiveFrom) {
        throw new ConflictError(`effectiveFrom must be after the latest version's (${new Date(last.effectiveFrom).toISOString()})`)
      }
      const version: CpaVersion = { version: (last?.version ?? 0) + 1, amount: v.amount, currency: v.currency, effectiveFrom: v.effectiveFrom, createdAt: now }
      deal.versions.push(version)
      let revision: number
      try {
        revision = cur ? await this.bucket.kv.update(k, encodeJson(deal), cur.revision) : await this.bucket.kv.create(k, encodeJson(deal))
      } catch (err) {
        if (!isCasConflict(err)) throw err
        continue
      }
      this.view.apply(k, deal, revision)
      await this.audit.append({ at: now, by, entity: 'deal', key: k, action: last ? 'update' : 'create', after: version })
      return deal
    }
  }
}
