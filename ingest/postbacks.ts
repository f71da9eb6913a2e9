/**
 * GET|POST /postback — conversions from the operator's platform (server to server).
 *
 * Authenticated per source (token), validated with zod (4xx with the field and reason),
 * acknowledged only after JetStream stored the event. Idempotent by event id: the first
 * answer is recorded in KV and a replay gets it again; the same id with other content is
 * a 409. Concurrent identical requests all publish under one Nats-Msg-Id, so the stream
 * keeps one and every request gets the same sequence back.
 */
import { createHash } from 'node:crypto'
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { KV } from 'nats'
import { z } from 'zod'
import { secretMatches, type Source, type WatchedBucket } from '../common/entities.js'
import { CONVERSION_KINDS, conversionKey, conversionOrderKey, type ConversionEvent } from '../common/events.js'
import { AmountSchema, CurrencySchema } from '../common/money.js'
import { isCasConflict } from '../common/entities.js'
import { ShuttingDownError, type Publisher } from './publisher.js'

const printable = (max: number) =>
  z
    .string()
    .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
    .max(max)

export const PostbackSchema = z
  .object({
    source: z.coerce.number({ message: 'must be the numeric id of a postback source' }).int().positive(),
    token: z.string().optional(),
    event: z.enum(CONVERSION_KINDS, { message: `must be one of ${CONVERSION_KINDS.join(', ')}` }),
    event_id: printable(128),
    click_id: printable(128).optional(),
    player_id: printable(128).optional(),
    amount: AmountSchema.optional(),
    currency: CurrencySchema.optional(),
  })
  .superRefine((p, ctx) => {
    if (p.event === 'registration' && !p.player_id) ctx.addIssue({ code: 'custom', path: ['player_id'], message: 'is required for a registration' })
    if (p.event === 'ftd' && !p.player_id && !p.click_id)
      ctx.addIssue({ code: 'custom', path: ['player_id'], message: 'player_id or click_id is required for an ftd' })
    if (p.event === 'ftd' && p.amount === undefined) ctx.addIssue({ code: 'custom', path: ['amount'], message: 'is required for an ftd' })
    if (p.amount !== undefined && !p.currency) ctx.addIssue({ code: 'custom', path: ['currency'], message: 'is required with an amount' })
    if (p.amount !== undefined && p.amount.startsWith('-')) ctx.addIssue({ code: 'custom', path: ['amount'], message: 'must not be negative' })
  })
export type Postback = z.infer<typeof PostbackSchema>

export type PostbackAnswer = { status: 'accepted'; event: string; event_id: string; seq: number }

type Record_ = { h: string; seq?: number }

export type PostbackDeps = {
  sources: WatchedBucket<Source>
  idempotency: KV
  publisher: Publisher
}

const enc = new TextEncoder()
const dec = new TextDecoder()

/** What makes two postbacks "the same event": everything but the credentials. */
function contentHash(p: Postback): string {
  const canonical = JSON.stringify([p.source, p.event, p.event_id, p.click_id ?? null, p.player_id ?? null, p.amount ?? null, p.currency ?? null])
  return createHash('sha256').update(canonical).digest('hex')
}

function idemKey(p: Postback): string {
  return `pb.${p.source}.${createHash('sha256').update(p.event_id).digest('hex').slice(0, 40)}`
}

function fail(reply: FastifyReply, code: number, error: string, reason: string, fields?: Record<string, string>) {
  return reply.code(code).send({ error, reason, ...(fields ? { fields } : {}) })
}

export function postbackRoutes(app: FastifyInstance, deps: PostbackDeps) {
  const handler = async (input: Record<string, unknown>, headerToken: string | undefined, reply: FastifyReply) => {
    const parsed = PostbackSchema.safeParse(input)
    if (!parsed.success) {
      const fields: Record<string, string> = {}
      for (const i of parsed.error.issues) fields[i.path.join('.') || '_'] ??= i.message
      return fail(
        reply,
        400,
        'invalid_postback',
        Object.entries(fields)
          .map(([f, m]) => `${f} ${m}`)
          .join('; '),
        fields,
      )
    }
    const p = parsed.data
    const source = deps.sources.map.get(`s.${p.source}`)
    const token = headerToken ?? p.token
    if (!source || !token || !secretMatches(token, source.tokenHash)) {
      return fail(reply, 401, 'unauthorized', 'unknown source or wrong token')
    }

    const key = idemKey(p)
    const h = contentHash(p)
    let existing = await deps.idempotency.get(key)
    if (!existing || existing.operation !== 'PUT') {
      try {
        await deps.idempotency.create(key, enc.encode(JSON.stringify({ h } satisfies Record_)))
        existing = null
      } catch (err) {
        if (!isCasConflict(err)) throw err
        existing = await deps.idempotency.get(key)
      }
    }
    if (existing && existing.operation === 'PUT') {
      const rec = JSON.parse(dec.decode(existing.value)) as Record_
      if (rec.h !== h) return fail(reply, 409, 'conflict', `event_id '${p.event_id}' was already received with different content`)
      if (rec.seq !== undefined) return answer(p, rec.seq)
      // The first request is still publishing (or died doing so): publish again under the
      // same Nats-Msg-Id; the stream keeps one copy and answers with its sequence.
    }

    const ev: ConversionEvent = {
      kind: p.event,
      id: conversionKey(p.source, p.event_id),
      sourceId: p.source,
      eventId: p.event_id,
      ts: Date.now(),
      ...(p.click_id ? { clickId: p.click_id } : {}),
      ...(p.player_id ? { playerId: p.player_id } : {}),
      ...(p.amount !== undefined ? { amount: p.amount, currency: p.currency } : {}),
    }
    let ack
    try {
      ack = await deps.publisher.conversion(ev, conversionOrderKey(ev))
    } catch (err) {
      if (err instanceof ShuttingDownError) return fail(reply, 503, 'unavailable', 'ingest is shutting down; retry')
      throw err
    }
    await deps.idempotency.put(key, enc.encode(JSON.stringify({ h, seq: ack.seq } satisfies Record_)))
    return answer(p, ack.seq)
  }

  const answer = (p: Postback, seq: number): PostbackAnswer => ({ status: 'accepted', event: p.event, event_id: p.event_id, seq })

  app.get('/postback', (req, reply) => handler(req.query as Record<string, unknown>, tokenHeader(req.headers), reply))
  app.post('/postback', (req, reply) => {
    const body = req.body
    if (!body || typeof body !== 'object') return fail(reply, 400, 'invalid_postback', 'send a JSON object or a form body')
    return handler(body as Record<string, unknown>, tokenHeader(req.headers), reply)
  })
}

function tokenHeader(h: Record<string, string | string[] | undefined>): string | undefined {
  const v = h['x-postback-token']
  return typeof v === 'string' ? v : undefined
}
