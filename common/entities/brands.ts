/** Brands: the operator's sites or products, which offers belong to. */
import { z } from 'zod'
import { HttpUrl } from './fields.js'
import { type Actor, mergePatch, Repository } from './kv.js'

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

const key = (id: number) => `b.${id}`

export class BrandRepository extends Repository<Brand> {
  async create(input: z.input<typeof BrandInputSchema>, now: number, by: Actor = 'system'): Promise<Brand> {
    const brand = BrandSchema.parse({ ...input, id: await this.ids.next('brand'), createdAt: now })
    return this.bucket.create(key(brand.id), brand, by, now)
  }

  get(id: number): Brand | undefined {
    return this.bucket.get(key(id))
  }

  /** Change a brand; a field the patch does not name keeps its value, null clears an optional one. */
  async update(id: number, patch: object, now: number, by: Actor = 'system'): Promise<Brand> {
    return this.bucket.update(key(id), `no brand ${id}`, (cur) => BrandSchema.parse({ ...mergePatch(cur, patch), updatedAt: now }), by, now)
  }
}
