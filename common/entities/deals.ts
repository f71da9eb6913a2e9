/** CPA deals: per affiliate, versions that each apply from their effective date. */
import { z } from 'zod'
import type { AuditLog } from '../audit.js'
import { ConflictError } from '../errors.js'
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

export class DealRepository extends Repository<CpaDeal> {
  constructor(
    bucket: EntityBucket<CpaDeal>,
    ids: IdCounter,
    private readonly audit: AuditLog,
  ) {
    super(bucket, ids)
  }

  get(affiliateId: number): CpaDeal | undefined {
    return this.bucket.get(key(affiliateId))
  }

  /** Append a CPA deal version. Versions never change once written; a new one applies from its effective date. */
  async addCpaVersion(affiliateId: number, v: { amount: string; currency: string; effectiveFrom: number }, now: number, by: Actor = 'system'): Promise<CpaDeal> {
    const k = key(affiliateId)
    for (;;) {
      const cur = await this.bucket.read(k)
      const deal: CpaDeal = cur ? cur.value : { affiliateId, versions: [] }
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
