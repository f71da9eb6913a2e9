/** Outbound postback endpoints: an affiliate's URL template fired for the event kinds it names. */
import { z } from 'zod'
import { CONVERSION_KINDS } from '../events.js'
import { OUTBOUND_MACROS } from '../vocabulary.js'
import { type Actor, mergePatch, Repository } from './kv.js'

export { OUTBOUND_MACROS }

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

const key = (id: number) => `e.${id}`

export class EndpointRepository extends Repository<Endpoint> {
  async create(input: { affiliateId: number; events: Endpoint['events']; url: string }, now: number, by: Actor = 'system'): Promise<Endpoint> {
    const ep = EndpointSchema.parse({ id: await this.ids.next('endpoint'), ...input, status: 'active', createdAt: now })
    return this.bucket.create(key(ep.id), ep, by, now)
  }

  get(id: number): Endpoint | undefined {
    return this.bucket.get(key(id))
  }

  /** Change an endpoint's event kinds, URL or status. */
  async update(id: number, patch: Partial<Pick<Endpoint, 'events' | 'url' | 'status'>>, now: number, by: Actor = 'system'): Promise<Endpoint> {
    return this.bucket.update(key(id), `no endpoint ${id}`, (cur) => EndpointSchema.parse(mergePatch(cur, patch)), by, now)
  }

  async delete(id: number, now: number = Date.now(), by: Actor = 'system'): Promise<void> {
    await this.bucket.delete(key(id), String(id), by, now)
  }
}
