/**
 * Migration import: operators moving from another platform bring their affiliates (with
 * the ids the old platform used), their links (legacy codes keep redirecting) and their
 * players' bindings, so attribution does not break. Each call takes up to 1,000 rows and
 * answers per row: what it did (or, in a dry run, would do) or why it could not.
 *
 * A player binding travels on the event stream as an imported binding on the player's
 * partition: the processor applies it only to a player not bound yet (first touch stands),
 * and what was parked for the player is applied to the imported affiliate.
 */
import { createHash } from 'node:crypto'
import type { KV } from 'nats'
import { z } from 'zod'
import { ConflictError, LINK_CODE, type EntityStore, type Link } from '../common/entities.js'
import { encodeEvents, type ReassignEvent } from '../common/events.js'
import { playerPartition, playerStateKey } from '../common/keys.js'
import { eventSubject } from '../common/subjects.js'
import { FxRateSchema } from '../common/fx.js'
import { CurrencySchema, D } from '../common/money.js'

export const IMPORT_KINDS = ['affiliates', 'links', 'players', 'fx'] as const
export type ImportKind = (typeof IMPORT_KINDS)[number]
export type RowResult = { row: number; action: 'create' | 'exists' | 'bind' | 'error'; id?: number | string; error?: string }

const printable = z.string().regex(/^[\x21-\x7e]{1,128}$/, 'must be 1-128 printable ASCII characters without spaces')
const empty = (v: unknown) => (v === '' ? undefined : v)
const Schemas = {
  affiliates: z.object({
    external_id: printable,
    name: z.string().trim().min(1, 'is required').max(200),
    email: z.preprocess(empty, z.string().email().optional()),
  }),
  links: z.object({
    code: z.string().regex(LINK_CODE, 'must be 3-64 characters of A-Z a-z 0-9 _ -'),
    affiliate_external_id: z.preprocess(empty, printable.optional()),
    affiliate_id: z.preprocess(empty, z.coerce.number().int().positive().optional()),
    destination: z
      .string()
      .url()
      .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL'),
  }),
  players: z.object({
    player_id: printable,
    link_code: z.string().regex(LINK_CODE, 'must be a link code'),
  }),
  /** an FX rate for a day: 1 `from` = `rate` `to` */
  fx: z.object({ date: FxRateSchema.shape.date, from: CurrencySchema, to: CurrencySchema, rate: FxRateSchema.shape.rate }),
}

export type ImportDeps = {
  store: EntityStore
  players: KV
  partitions: number
  publish: (subject: string, data: Uint8Array, msgId: string) => Promise<number>
}

function why(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.join('.') || 'row'} ${i.message}`).join('; ')
}

export async function importRows(kind: ImportKind, rows: Record<string, string>[], firstRow: number, dryRun: boolean, d: ImportDeps): Promise<RowResult[]> {
  const out: RowResult[] = []
  const publishes: Promise<unknown>[] = []
  for (let i = 0; i < rows.length; i++) {
    const row = firstRow + i
    const fail = (error: string) => out.push({ row, action: 'error', error })
    if (kind === 'affiliates') {
      const p = Schemas.affiliates.safeParse(rows[i])
      if (!p.success) {
        fail(why(p.error))
        continue
      }
      const existing = await d.store.affiliates.findByExternalId(p.data.external_id)
      if (existing) out.push({ row, action: 'exists', id: existing.id })
      else if (dryRun) out.push({ row, action: 'create' })
      else {
        try {
          const a = await d.store.affiliates.create({ name: p.data.name, externalId: p.data.external_id, ...(p.data.email ? { email: p.data.email } : {}) }, Date.now(), 'import')
          out.push({ row, action: 'create', id: a.id })
        } catch (err) {
          if (err instanceof ConflictError) out.push({ row, action: 'exists' })
          else throw err
        }
      }
    } else if (kind === 'links') {
      const p = Schemas.links.safeParse(rows[i])
      if (!p.success) {
        fail(why(p.error))
        continue
      }
      const r = p.data
      if ((r.affiliate_id === undefined) === (r.affiliate_external_id === undefined)) {
        fail('give exactly one of affiliate_id, affiliate_external_id')
        continue
      }
      const aff = r.affiliate_id !== undefined ? d.store.affiliates.get(r.affiliate_id) : await d.store.affiliates.findByExternalId(r.affiliate_external_id!)
      if (!aff) {
        fail(`no affiliate ${r.affiliate_id ?? `with external id '${r.affiliate_external_id}'`}`)
        continue
      }
      const have = d.store.links.byCode(r.code)
      if (have) {
        if (have.affiliateId === aff.id) out.push({ row, action: 'exists', id: have.id })
        else fail(`link code '${r.code}' belongs to affiliate ${have.affiliateId}`)
        continue
      }
      if (dryRun) out.push({ row, action: 'create' })
      else {
        const l = await d.store.links.create({ affiliateId: aff.id, destination: r.destination, code: r.code }, Date.now(), 'import')
        out.push({ row, action: 'create', id: l.id })
      }
    } else if (kind === 'fx') {
      const p = Schemas.fx.safeParse(rows[i])
      if (!p.success) {
        fail(why(p.error))
        continue
      }
      const have = d.store.fx.view.map.get(`${p.data.from}.${p.data.to}.${p.data.date}`)
      if (have && !new D(have.rate).eq(p.data.rate)) fail(`${p.data.from}→${p.data.to} on ${p.data.date} is recorded as ${have.rate}; rates are write-once`)
      else if (have) out.push({ row, action: 'exists' })
      else if (dryRun) out.push({ row, action: 'create' })
      else {
        try {
          await d.store.fx.record([p.data], Date.now(), 'import')
          out.push({ row, action: 'create' })
        } catch (err) {
          if (err instanceof ConflictError) fail(err.message)
          else throw err
        }
      }
    } else {
      const p = Schemas.players.safeParse(rows[i])
      if (!p.success) {
        fail(why(p.error))
        continue
      }
      const link = d.store.links.byCode(p.data.link_code)
      if (!link) {
        fail(`no link with code '${p.data.link_code}'`)
        continue
      }
      const state = await d.players.get(playerStateKey({ playerId: p.data.player_id, id: '' }))
      if (state && state.operation === 'PUT' && (JSON.parse(state.string()) as { boundAt?: number }).boundAt !== undefined) {
        out.push({ row, action: 'exists' })
        continue
      }
      out.push({ row, action: 'bind' })
      if (dryRun) continue
      const e: ReassignEvent = {
        kind: 'reassign',
        // the same binding imported twice is one message (within the stream's duplicate window)
        id: `im:${createHash('sha256').update(`${p.data.player_id}\n${link.id}`).digest('hex').slice(0, 40)}`,
        ts: Date.now(),
        playerId: p.data.player_id,
        affiliateId: link.affiliateId,
        linkId: link.id,
        offerId: link.offerId,
        onlyIfUnbound: true,
        by: 'import',
        note: `imported binding via legacy link ${link.code}`,
      }
      publishes.push(d.publish(eventSubject(playerPartition(e.playerId, d.partitions), e.kind), encodeEvents([e]), e.id))
      if (publishes.length >= 256) await Promise.all(publishes.splice(0))
    }
  }
  await Promise.all(publishes)
  const bound = out.filter((r) => r.action === 'bind')
  if (kind === 'players' && !dryRun && bound.length > 0) {
    // One record per chunk: the bindings themselves are events on the stream, each in the events log.
    await d.store.audit.append({
      by: 'import',
      entity: 'player',
      key: `import:${firstRow}-${firstRow + rows.length - 1}`,
      action: 'update',
      after: { bindings: bound.length, rows: bound.map((r) => r.row) },
      note: 'imported player bindings (only where the player was not bound yet)',
    })
  }
  return out
}
