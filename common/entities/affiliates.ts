/** Affiliates: the partners who send traffic, and who recruited whom. */
import { z } from 'zod'
import { GroupNameSchema } from '../deals.js'
import { ConflictError, NotFoundError } from '../errors.js'
import { historyAt } from '../history.js'
import { type Actor, encodeJson, isCasConflict, mergePatch, Repository } from './kv.js'
import { sha256hex } from './sources.js'
import { maskedPayment, PaymentDetailsSchema, type PaymentDetails } from '../payment.js'

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
  /** the group it belongs to: deals for the group apply to it (`vip`) */
  group: GroupNameSchema.optional(),
  status: z.enum(['active', 'suspended']),
  createdAt: z.number().int(),
  /** every status and parent it has had, each from when (the commission engine reads them as of
   *  an event's time, so a replay decides the same); absent on affiliates stored before */
  statusHistory: z.array(z.object({ from: z.number().int(), status: z.enum(['active', 'suspended']) })).optional(),
  parentHistory: z.array(z.object({ from: z.number().int(), parentId: z.number().int().positive().nullable() })).optional(),
  groupHistory: z.array(z.object({ from: z.number().int(), group: GroupNameSchema.nullable() })).optional(),
  /** how it is paid (common/payment.ts) */
  payment: PaymentDetailsSchema.optional(),
  /** every change of its payment details: when, by whom, and what they became, masked (its portal shows them) */
  paymentHistory: z.array(z.object({ at: z.number().int(), by: z.string(), details: z.string() })).optional(),
})
export type Affiliate = z.infer<typeof AffiliateSchema>

const key = (id: number) => `a.${id}`
/** The affiliates bucket also holds external id → id entries, outside the `a.*` the index watches. */
export const AFFILIATE_KEYS = 'a.*'
const externalKey = (externalId: string) => `x.${sha256hex(externalId).slice(0, 40)}`

export class AffiliateRepository extends Repository<Affiliate> {
  async create(input: { name: string; email?: string; externalId?: string; manager?: string; parentId?: number; group?: string }, now: number, by: Actor = 'system'): Promise<Affiliate> {
    const a: Affiliate = AffiliateSchema.parse({
      id: await this.ids.next('affiliate'),
      ...input,
      status: 'active',
      createdAt: now,
      statusHistory: [{ from: now, status: 'active' }],
      parentHistory: [{ from: now, parentId: input.parentId ?? null }],
      groupHistory: [{ from: now, group: input.group ?? null }],
    })
    if (input.externalId !== undefined) {
      // The external id is unique: its index entry is claimed first, by compare-and-set.
      try {
        await this.bucket.kv.create(externalKey(input.externalId), encodeJson(a.id))
      } catch (err) {
        if (isCasConflict(err)) throw new ConflictError(`an affiliate with external id '${input.externalId}' exists`)
        throw err
      }
    }
    return this.bucket.create(key(a.id), a, by, now)
  }

  /** Change an affiliate's name, email, status, manager, parent or group (null clears an optional one). */
  async update(
    id: number,
    patch: { name?: string; email?: string | null; status?: Affiliate['status']; manager?: string | null; parentId?: number | null; group?: string | null },
    now: number = Date.now(),
    by: Actor = 'system',
  ): Promise<Affiliate> {
    if (patch.parentId !== undefined && patch.parentId !== null) {
      // the parent exists, and the chain above it never comes back to this affiliate
      let p: number | undefined = patch.parentId
      for (let depth = 0; p !== undefined; depth++) {
        if (p === id) throw new ConflictError('an affiliate cannot be its own parent, directly or through others')
        if (depth > 50) throw new ConflictError('the parent chain is too deep')
        const up: Affiliate | undefined = this.get(p)
        if (!up) throw new NotFoundError(`no affiliate ${p}`)
        p = up.parentId
      }
    }
    return this.bucket.update(
      key(id),
      `no affiliate ${id}`,
      (cur) => {
        const next = AffiliateSchema.parse(mergePatch(cur, patch))
        // what changed, and from when: the history the commission engine reads as of an event
        if (next.status !== cur.status) next.statusHistory = [...statusHistoryOf(cur), { from: now, status: next.status }]
        if ((next.parentId ?? null) !== (cur.parentId ?? null))
          next.parentHistory = [...parentHistoryOf(cur), { from: now, parentId: next.parentId ?? null }]
        if ((next.group ?? null) !== (cur.group ?? null)) next.groupHistory = [...groupHistoryOf(cur), { from: now, group: next.group ?? null }]
        return next
      },
      by,
      now,
    )
  }

  /** Set how the affiliate is paid; the change is kept in its payment history (masked) and audited. */
  async setPayment(id: number, payment: PaymentDetails, now: number, by: Actor): Promise<Affiliate> {
    return this.bucket.update(
      key(id),
      `no affiliate ${id}`,
      (cur) => AffiliateSchema.parse({ ...cur, payment, paymentHistory: [...(cur.paymentHistory ?? []), { at: now, by, details: maskedPayment(payment) }] }),
      by,
      now,
    )
  }

  async findByExternalId(externalId: string): Promise<Affiliate | undefined> {
    const e = await this.bucket.kv.get(externalKey(externalId))
    return e && e.operation === 'PUT' ? this.get(Number(e.string())) : undefined
  }

  get(id: number): Affiliate | undefined {
    return this.bucket.get(key(id))
  }
}

/** Every status the affiliate has had, from when (one written before the histories: its status since it was created). */
export function statusHistoryOf(a: Affiliate): { from: number; status: Affiliate['status'] }[] {
  return a.statusHistory?.length ? a.statusHistory : [{ from: a.createdAt, status: a.status }]
}

/** Every parent the affiliate has had, from when (null: none). */
export function parentHistoryOf(a: Affiliate): { from: number; parentId: number | null }[] {
  return a.parentHistory?.length ? a.parentHistory : [{ from: a.createdAt, parentId: a.parentId ?? null }]
}

/** Every group the affiliate has been in, from when (null: none). */
export function groupHistoryOf(a: Affiliate): { from: number; group: string | null }[] {
  return a.groupHistory?.length ? a.groupHistory : [{ from: a.createdAt, group: a.group ?? null }]
}

/** The affiliate's status when `at` happened (before its first recorded change: its first). */
export function statusAt(a: Affiliate, at: number): Affiliate['status'] {
  return historyAt(statusHistoryOf(a), at)?.status ?? a.status
}

/** The affiliate's parent when `at` happened. */
export function parentAt(a: Affiliate, at: number): number | undefined {
  return historyAt(parentHistoryOf(a), at)?.parentId ?? undefined
}
