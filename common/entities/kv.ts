/**
 * The KV mechanics every entity repository shares: a live in-memory index of a bucket kept
 * by a watch (lists and gets read it, never the bucket), compare-and-set writes that update
 * that index from their own result (a process reads its own writes at once), the audit
 * record of every change, and id allocation.
 */
import type { KV } from 'nats'
import { z } from 'zod'
import type { AuditEntity, AuditLog } from '../audit.js'
import { ConflictError, NotFoundError } from '../errors.js'

const enc = new TextEncoder()
const dec = new TextDecoder()

/** Who made a change, for the audit log: "operator", "affiliate:<id>", "import", "system". */
export type Actor = string

/** What a tier does with a value in a bucket its schema cannot read (it is left out). */
export type OnUnreadable = (err: unknown, key: string) => void

export function isCasConflict(err: unknown): boolean {
  const m = String((err as Error)?.message ?? err)
  return m.includes('wrong last sequence') || m.includes('key exists')
}

export const encodeJson = (v: unknown): Uint8Array => enc.encode(JSON.stringify(v))

/** A patch applied to a value: undefined leaves a field, null removes it. */
export function mergePatch(cur: object, patch: object): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...cur }
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue
    if (v === null) delete merged[k]
    else merged[k] = v
  }
  return merged
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

/**
 * A live in-memory copy of a bucket, keyed by KV key, kept current by a KV watch. `ready`
 * resolves once the initial values are loaded, so a tier reports ready only with its
 * config in memory. A writer applies its own result with `apply`; each key keeps the
 * highest revision seen, so a watch that delivers an older revision later never rolls the
 * copy back.
 */
export class WatchedBucket<T> {
  readonly map = new Map<string, T>()
  readonly ready: Promise<void>
  readonly #revisions = new Map<string, number>()
  readonly #keyById = new Map<number, string>()
  readonly #idOf: ((v: T) => number) | undefined
  #stop: (() => void) | undefined

  /** `filter`: a subject filter such as 'a.*' (default: every key); `idOf`: index the values by id too */
  constructor(kv: KV, schema: z.ZodType<T>, onError: OnUnreadable, opts: { filter?: string; idOf?: (v: T) => number } = {}) {
    this.#idOf = opts.idOf
    this.ready = new Promise((resolve, reject) => {
      kv.watch({ initializedFn: () => resolve(), ...(opts.filter ? { key: opts.filter } : {}) })
        .then((iter) => {
          this.#stop = () => iter.stop()
          void (async () => {
            for await (const e of iter) {
              if (e.operation !== 'PUT') {
                this.apply(e.key, undefined, e.revision)
                continue
              }
              try {
                this.apply(e.key, schema.parse(JSON.parse(dec.decode(e.value))), e.revision)
              } catch (err) {
                onError(err, e.key)
              }
            }
          })()
        })
        .catch(reject)
    })
  }

  /** Set (or with undefined, remove) a key's value as of a revision, unless a later one is known. */
  apply(key: string, value: T | undefined, revision: number): void {
    if ((this.#revisions.get(key) ?? 0) >= revision) return
    this.#revisions.set(key, revision)
    const prev = this.map.get(key)
    if (prev !== undefined && this.#idOf) this.#keyById.delete(this.#idOf(prev))
    if (value === undefined) {
      this.map.delete(key)
      return
    }
    this.map.set(key, value)
    if (this.#idOf) this.#keyById.set(this.#idOf(value), key)
  }

  /** The value with this id (when the bucket was opened with `idOf`). */
  byId(id: number): T | undefined {
    const key = this.#keyById.get(id)
    return key === undefined ? undefined : this.map.get(key)
  }

  stop() {
    this.#stop?.()
  }
}

/** Ids of every kind, each allocated by compare-and-set on its counter. */
export class IdCounter {
  constructor(private readonly kv: KV) {}

  async next(kind: string): Promise<number> {
    const key = `id.${kind}`
    for (;;) {
      const cur = await this.kv.get(key)
      const next = (cur ? Number(cur.string()) : 0) + 1
      try {
        if (cur && cur.operation === 'PUT') await this.kv.update(key, enc.encode(String(next)), cur.revision)
        else await this.kv.create(key, enc.encode(String(next)))
        return next
      } catch (err) {
        if (!isCasConflict(err)) throw err
      }
    }
  }
}

/**
 * One entity's bucket: reads from its watched index, writes by compare-and-set into KV and
 * the index, each change recorded in the audit log.
 */
export class EntityBucket<T> {
  readonly view: WatchedBucket<T>

  constructor(
    readonly kv: KV,
    readonly schema: z.ZodType<T>,
    private readonly audit: AuditLog,
    private readonly entity: AuditEntity,
    onError: OnUnreadable,
    opts: { filter?: string; idOf?: (v: T) => number } = {},
  ) {
    this.view = new WatchedBucket(kv, schema, onError, opts)
  }

  get(key: string): T | undefined {
    return this.view.map.get(key)
  }

  list(): T[] {
    return [...this.view.map.values()]
  }

  /** The stored value read from KV itself, with its revision (for a compare-and-set). */
  async read(key: string): Promise<{ value: T; revision: number } | undefined> {
    const e = await this.kv.get(key)
    if (!e || e.operation !== 'PUT') return undefined
    return { value: this.schema.parse(JSON.parse(e.string())), revision: e.revision }
  }

  /** Create a value under a new key (a ConflictError with `taken` when the key exists), then record it in the audit log. */
  async create(key: string, value: T & { id: number }, by: Actor, at: number, taken = `${key} exists`): Promise<T> {
    let revision: number
    try {
      revision = await this.kv.create(key, encodeJson(value))
    } catch (err) {
      if (isCasConflict(err)) throw new ConflictError(taken)
      throw err
    }
    this.view.apply(key, value, revision)
    await this.audit.append({ at, by, entity: this.entity, key: String(value.id), action: 'create', after: value })
    return value
  }

  /** Read-modify-write by compare-and-set (redone on a concurrent change), then record before and after in the audit log. */
  async update(key: string, missing: string, change: (cur: T) => T & { id: number }, by: Actor, at: number): Promise<T> {
    for (;;) {
      const cur = await this.read(key)
      if (!cur) throw new NotFoundError(missing)
      const before = cur.value
      const after = change(before)
      let revision: number
      try {
        revision = await this.kv.update(key, encodeJson(after), cur.revision)
      } catch (err) {
        if (isCasConflict(err)) continue
        throw err
      }
      this.view.apply(key, after, revision)
      await this.audit.append({ at, by, entity: this.entity, key: String(after.id), action: 'update', before, after })
      return after
    }
  }

  /** Delete a key, and record what it held in the audit log. */
  async delete(key: string, auditKey: string, by: Actor, at: number): Promise<void> {
    const before = await this.read(key)
    await this.kv.delete(key)
    // The delete marker's revision keeps a late watch delivery of an older value from bringing
    // it back; a value written after the delete is left to the watch.
    const marker = await this.kv.get(key)
    if (!marker || marker.operation !== 'PUT') this.view.apply(key, undefined, marker?.revision ?? Number.MAX_SAFE_INTEGER)
    if (before) await this.audit.append({ at, by, entity: this.entity, key: auditKey, action: 'delete', before: before.value })
  }
}

/** What every entity's repository has: its bucket, its live view (for tiers that read the map), its list. */
export abstract class Repository<T> {
  constructor(
    readonly bucket: EntityBucket<T>,
    protected readonly ids: IdCounter,
  ) {}

  get view(): WatchedBucket<T> {
    return this.bucket.view
  }

  list(): T[] {
    return this.bucket.list()
  }
}
