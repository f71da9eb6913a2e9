/**
 * FX rates per day, write-once: `<from>.<to>.<day>`. A rate recorded again with the same value
 * changes nothing; with another value it is refused (a line already accrued keeps the rate it
 * used, and a replay must convert as live did). Each carries when it was recorded: an event
 * sees only the rates recorded before it was received.
 */
import { z } from 'zod'
import type { AuditLog } from '../audit.js'
import { ConflictError } from '../errors.js'
import { FxRateSchema, type FxRate } from '../fx.js'
import { D } from '../money.js'
import { type Actor, type EntityBucket, encodeJson, isCasConflict } from './kv.js'

export const StoredFxRateSchema = FxRateSchema.extend({ recordedAt: z.number().int() })
export type StoredFxRate = z.infer<typeof StoredFxRateSchema>

const key = (r: Pick<FxRate, 'from' | 'to' | 'date'>) => `${r.from}.${r.to}.${r.date}`

export class FxRepository {
  constructor(
    private readonly bucket: EntityBucket<StoredFxRate>,
    private readonly audit: AuditLog,
  ) {}

  get view() {
    return this.bucket.view
  }

  list(): StoredFxRate[] {
    return this.bucket.list().sort((a, b) => (a.from + a.to + a.date < b.from + b.to + b.date ? -1 : 1))
  }

  /** Record rates; each is new, the same as recorded (unchanged), or a conflict (nothing of the call after it is recorded). */
  async record(rates: FxRate[], now: number, by: Actor): Promise<{ recorded: number; unchanged: number }> {
    let recorded = 0
    let unchanged = 0
    for (const r of rates) {
      const k = key(r)
      const have = this.bucket.get(k) ?? (await this.bucket.read(k))?.value
      if (have) {
        if (!new D(have.rate).eq(r.rate)) throw new ConflictError(`${r.from}→${r.to} on ${r.date} is recorded as ${have.rate}; rates are write-once (a line already accrued used it)`)
        unchanged++
        continue
      }
      const value: StoredFxRate = { date: r.date, from: r.from, to: r.to, rate: r.rate, recordedAt: now }
      try {
        const revision = await this.bucket.kv.create(k, encodeJson(value))
        this.bucket.view.apply(k, value, revision)
      } catch (err) {
        if (!isCasConflict(err)) throw err
        throw new ConflictError(`${r.from}→${r.to} on ${r.date} was recorded at the same moment; ask again`)
      }
      await this.audit.append({ at: now, by, entity: 'fx_rate', key: k, action: 'create', after: value })
      recorded++
    }
    return { recorded, unchanged }
  }
}
