/**
 * The audit log: every change to an entity (who, when, before and after), appended to a
 * JetStream stream and hash-chained, so a removed or altered record shows.
 *
 * Each record carries the hash of the one before it and its own hash over its content. The
 * chain is one line across every process: an append is published with the stream's
 * expected last sequence, so two writers cannot both extend the same record; the loser
 * re-reads the head and tries again. Secrets (a source's token hash, an HMAC key) are
 * redacted before they are written.
 */
import { createHash } from 'node:crypto'
import type { JetStreamClient, JetStreamManager, NatsConnection } from 'nats'
import { z } from 'zod'
import { AUDIT_STREAM } from './subjects.js'

import { AUDIT_ENTITIES } from './vocabulary.js'

export { AUDIT_ENTITIES }
export type AuditEntity = (typeof AUDIT_ENTITIES)[number]

export const GENESIS = '0'.repeat(64)
const SECRET_FIELDS = new Set(['tokenHash', 'hmacSecret', 'previousTokenHash', 'previousHmacSecret'])

export const AuditRecordSchema = z.object({
  at: z.number().int(),
  /** who made the change: "operator", "affiliate:<id>", "import", "system" */
  by: z.string(),
  entity: z.enum(AUDIT_ENTITIES),
  /** the entity's id (or key) */
  key: z.string(),
  action: z.enum(['create', 'update', 'delete']),
  before: z.unknown().optional(),
  after: z.unknown().optional(),
  note: z.string().optional(),
  /** the hash of the record before this one (GENESIS for the first) */
  prev: z.string().length(64),
  /** sha256 over prev and this record's content */
  hash: z.string().length(64),
})
export type AuditRecord = z.infer<typeof AuditRecordSchema>
export type AuditChange = Omit<AuditRecord, 'prev' | 'hash' | 'at'> & { at?: number }

/** JSON with keys sorted at every level: the same content always hashes the same. */
export function canonical(v: unknown): string {
  if (v === undefined) return 'null'
  if (v === null || typeof v !== 'object') return JSON.stringify(v)
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`
  const o = v as Record<string, unknown>
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
    .join(',')}}`
}

export function recordHash(r: Omit<AuditRecord, 'hash'> & { hash?: string }): string {
  const { prev, hash: _own, ...content } = r
  return createHash('sha256').update(prev).update('\n').update(canonical(content)).digest('hex')
}

/** A copy with secret fields replaced, at any depth. */
export function redact(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v
  if (Array.isArray(v)) return v.map(redact)
  return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, SECRET_FIELDS.has(k) ? (x ? '[redacted]' : x) : redact(x)]))
}

/** Where a chain walk found it broken. */
export type ChainCheck = { ok: true; records: number; head: string } | { ok: false; records: number; seq: number; problem: string }

/** Checks records one at a time, in stream order: each links to the one before, each hash
 *  matches its content, no sequence is missing. Holds only the last hash. */
export class ChainChecker {
  #prev = GENESIS
  #expect = 1
  records = 0
  broken: Extract<ChainCheck, { ok: false }> | undefined

  /** false once the chain is broken (the first break is kept in `broken`). */
  add(seq: number, record: unknown): boolean {
    if (this.broken) return false
    const fail = (at: number, problem: string) => {
      this.broken = { ok: false, records: this.records, seq: at, problem }
      return false
    }
    if (seq !== this.#expect) return fail(this.#expect, `record ${this.#expect} is missing`)
    const r = AuditRecordSchema.safeParse(record)
    if (!r.success) return fail(seq, `record ${seq} is not an audit record`)
    if (r.data.prev !== this.#prev) return fail(seq, `record ${seq} does not follow the record before it`)
    if (recordHash(r.data) !== r.data.hash) return fail(seq, `record ${seq} was altered (its hash does not match its content)`)
    this.#prev = r.data.hash
    this.#expect = seq + 1
    this.records++
    return true
  }

  /** The verdict, given the stream's last sequence (records removed from the end leave no gap). */
  result(lastSeq = this.#expect - 1): ChainCheck {
    if (this.broken) return this.broken
    if (this.#expect - 1 < lastSeq) return { ok: false, records: this.records, seq: this.#expect, problem: `record ${this.#expect} is missing` }
    return { ok: true, records: this.records, head: this.#prev }
  }
}

/** Check records in stream order (see ChainChecker). */
export function checkChain(records: Iterable<{ seq: number; record: unknown }>): ChainCheck {
  const c = new ChainChecker()
  for (const { seq, record } of records) if (!c.add(seq, record)) break
  return c.result()
}

/** audit.<entity>.<key token>: one subject per entity key, so a key's history is read directly. */
export function auditSubject(entity: AuditEntity, key: string): string {
  return `audit.${entity}.${createHash('sha256').update(key).digest('hex').slice(0, 24)}`
}

/** The change was made but its audit record could not be written (never a conflict of the change itself). */
export class AuditError extends Error {}

const enc = new TextEncoder()
const dec = new TextDecoder()

export class AuditLog {
  #head: { seq: number; hash: string } | undefined
  #chain: Promise<unknown> = Promise.resolve()

  private constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
  ) {}

  static async open(nc: NatsConnection): Promise<AuditLog> {
    return new AuditLog(nc.jetstream(), await nc.jetstreamManager())
  }

  /** Append one change; resolves with its sequence once the stream stored it. */
  append(change: AuditChange): Promise<AuditRecord & { seq: number }> {
    // One append at a time per process; across processes the expected sequence decides.
    const p = this.#chain.then(() => this.#append(change))
    this.#chain = p.catch(() => {})
    return p
  }

  async #append(change: AuditChange): Promise<AuditRecord & { seq: number }> {
    for (let tries = 0; ; tries++) {
      const head = (this.#head ??= await this.#readHead())
      const body = {
        at: change.at ?? Date.now(),
        by: change.by,
        entity: change.entity,
        key: change.key,
        action: change.action,
        ...(change.before !== undefined ? { before: redact(change.before) } : {}),
        ...(change.after !== undefined ? { after: redact(change.after) } : {}),
        ...(change.note ? { note: change.note } : {}),
        prev: head.hash,
      }
      const record: AuditRecord = { ...body, hash: recordHash(body) }
      try {
        const ack = await this.js.publish(auditSubject(change.entity, change.key), enc.encode(JSON.stringify(record)), { expect: { lastSequence: head.seq } })
        this.#head = { seq: ack.seq, hash: record.hash }
        return { ...record, seq: ack.seq }
      } catch (err) {
        // Another process appended first: read the new head and link to it.
        this.#head = undefined
        if (!String((err as Error).message).includes('wrong last sequence') || tries > 50)
          throw new AuditError(`the change was made, but its audit record could not be written: ${(err as Error).message}`, { cause: err })
      }
    }
  }

  async #readHead(): Promise<{ seq: number; hash: string }> {
    const last = (await this.jsm.streams.info(AUDIT_STREAM)).state.last_seq
    if (last === 0) return { seq: 0, hash: GENESIS }
    try {
      const m = await this.jsm.streams.getMessage(AUDIT_STREAM, { seq: last })
      return { seq: last, hash: AuditRecordSchema.parse(JSON.parse(dec.decode(m.data))).hash }
    } catch {
      // The head was removed or mangled: keep recording (changes must not stop), linked to
      // nothing; the chain check reports the break at that record.
      return { seq: last, hash: GENESIS }
    }
  }

  /** Records newest first, optionally of one entity (and key), `before` a sequence. */
  async list(q: { entity?: AuditEntity; key?: string; limit: number; before?: number }): Promise<{ items: (AuditRecord & { seq: number })[]; next?: number }> {
    if (q.entity === undefined) return this.#listAll(q)
    // A filtered read walks only the matching subjects, oldest first, keeping the newest `limit`.
    const filter = q.key === undefined ? `audit.${q.entity}.*` : auditSubject(q.entity, q.key)
    const info = await this.jsm.streams.info(AUDIT_STREAM, { subjects_filter: filter })
    const matching = Object.values(info.state.subjects ?? {}).reduce((n, c) => n + c, 0)
    if (matching === 0) return { items: [] }
    const page: (AuditRecord & { seq: number })[] = []
    let older = false
    const c = await this.js.consumers.get(AUDIT_STREAM, { filterSubjects: filter })
    const it = await c.consume()
    for await (const m of it) {
      if (q.before !== undefined && m.seq >= q.before) break
      const r = AuditRecordSchema.safeParse(JSON.parse(dec.decode(m.data)))
      if (r.success && (q.key === undefined || r.data.key === q.key)) {
        page.push({ ...r.data, seq: m.seq })
        if (page.length > q.limit) {
          page.shift()
          older = true
        }
      }
      if (m.info.pending === 0) break
    }
    await it.close()
    const items = page.reverse()
    return { items, ...(older ? { next: items.at(-1)!.seq } : {}) }
  }

  async #listAll(q: { limit: number; before?: number }): Promise<{ items: (AuditRecord & { seq: number })[]; next?: number }> {
    const last = (await this.jsm.streams.info(AUDIT_STREAM)).state.last_seq
    const items: (AuditRecord & { seq: number })[] = []
    let seq = Math.min(last, (q.before ?? last + 1) - 1)
    for (; seq >= 1 && items.length < q.limit; seq--) {
      let m
      try {
        m = await this.jsm.streams.getMessage(AUDIT_STREAM, { seq })
      } catch {
        continue // removed: the chain check reports it
      }
      const r = AuditRecordSchema.safeParse(JSON.parse(dec.decode(m.data)))
      if (r.success) items.push({ ...r.data, seq })
    }
    return { items, ...(seq >= 1 ? { next: seq + 1 } : {}) }
  }

  /** Walk the whole chain from the first record, checking as it reads. */
  async verify(): Promise<ChainCheck> {
    const info = await this.jsm.streams.info(AUDIT_STREAM)
    const last = info.state.last_seq
    const check = new ChainChecker()
    if (info.state.messages > 0) {
      const it = await (await this.js.consumers.get(AUDIT_STREAM)).consume()
      for await (const m of it) {
        let record: unknown
        try {
          record = JSON.parse(dec.decode(m.data))
        } catch {
          record = undefined
        }
        if (!check.add(m.seq, record) || m.seq >= last || m.info.pending === 0) break
      }
      await it.close()
    }
    return check.result(last)
  }
}
