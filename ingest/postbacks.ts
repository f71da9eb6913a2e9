/**
 * GET|POST /postback — conversions from the operator's platform (server to server).
 *
 * Every event kind of DOMAIN.md's vocabulary, as GET (query) or POST (JSON or form), in the
 * platform's own parameter names through the source's field and event mappings.
 * Authenticated per source before anything else: its IP allow-list (403), then its token or
 * an HMAC-SHA256 signature over timestamp + raw body within 5 minutes (401); nothing is
 * published for a request that fails. Validated with zod (400 with the field and reason),
 * including `occurred_at`, when the event happened (ingest/occurred.ts; default the time
 * received): the stream event carries it as `occurredAt` beside `ts`, the time received.
 * acknowledged only after JetStream stored the event. Idempotent by event id: the first
 * answer is recorded in KV and a replay gets it again; the same id with other content is
 * a 409 (amounts compare as decimals: 250.0 after 250.00 is a replay). Concurrent identical
 * requests all publish under one Nats-Msg-Id, so the stream keeps one and every request gets
 * the same sequence back. JSON numbers keep their exact text (common/json.ts).
 * Rate-limited per client address (before the body is read) and per authenticated source:
 * 429 with Retry-After. While the event stream cannot be written the answer is a 503 with
 * Retry-After at once: a postback is never spooled, the platform retries.
 */
import { isIP } from 'node:net'
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { NatsError, type KV } from 'nats'
import { z } from 'zod'
import { secretMatches, type Source, type WatchedBucket } from '../common/entities.js'
import { IpAllowList } from '../common/ipallow.js'
import {
  CONVERSION_KINDS,
  DETAIL_FIELDS,
  conversionKey,
  conversionOrderKey,
  type ConversionEvent,
  type ConversionKind,
  type DetailField,
} from '../common/events.js'
import { JsonBodyError, parseJson } from '../common/json.js'
import { PLAYER_STATUSES } from '../common/vocabulary.js'
import { AmountSchema, CurrencySchema, canonicalAmount } from '../common/money.js'
import { isCasConflict } from '../common/entities.js'
import { isLoopback } from './flood.js'
import { ShuttingDownError, StreamUnavailableError, type Publisher } from './publisher.js'
import { PublishError } from './stream-writer.js'
import { parseOccurredAt } from './occurred.js'

const printable = (max: number) =>
  z
    .string()
    .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
    .max(max)

const nonNegative = AmountSchema.refine((a) => !a.startsWith('-'), 'must not be negative')
const DateSchema = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a day as YYYY-MM-DD')
  .refine((d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d), 'is not a calendar day')

/** How each vertical field is written. */
const DETAIL_SCHEMAS: Record<DetailField, z.ZodType<string>> = {
  date: DateSchema,
  bets: nonNegative,
  wins: nonNegative,
  bonuses: nonNegative,
  fees: nonNegative,
  adjustments: AmountSchema, // either sign: a correction in the player's favour or against
  instrument: printable(32),
  lots: AmountSchema.refine((a) => !a.startsWith('-') && /[1-9]/.test(a), 'must be more than zero'),
  spread: nonNegative,
  commission: nonNegative,
  challenge_id: printable(128),
  plan: printable(128),
  ref_event_id: printable(128),
  status: z.enum(PLAYER_STATUSES, { message: `must be one of ${PLAYER_STATUSES.join(', ')}` }),
  ip: z.string().refine((x) => isIP(x) !== 0, 'must be an IPv4 or IPv6 address'),
  device_id: printable(128),
  payment_hash: printable(128),
  email_hash: printable(128),
  kyc_country: z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166 country code such as DE'),
}
/** What the fraud rules read of where a player came from and how it pays (docs/fraud.md). */
const WHO: readonly DetailField[] = ['ip', 'device_id', 'payment_hash']
const MONEY_DETAILS: readonly DetailField[] = ['bets', 'wins', 'bonuses', 'fees', 'adjustments', 'spread', 'commission']
/** Details compared as decimals for idempotency: 250.0 and 250.00 are the same amount. */
const DECIMAL_DETAILS: ReadonlySet<DetailField> = new Set([...MONEY_DETAILS, 'lots'])

type KindRule = {
  /** required, or "player or click" (the cookieless FTD brings its click id) */
  player: 'required' | 'or_click'
  amount: 'required' | 'optional' | 'none'
  /** the vertical fields this kind carries; any other is dropped like an unknown field */
  details: readonly DetailField[]
  requires?: readonly DetailField[]
  /** at least one of these */
  anyOf?: readonly DetailField[]
}

/** What each event must and may carry (DOMAIN.md's vocabulary). */
export const KIND_RULES: Record<ConversionKind, KindRule> = {
  registration: { player: 'required', amount: 'optional', details: [...WHO, 'email_hash', 'kyc_country'] },
  ftd: { player: 'or_click', amount: 'required', details: WHO },
  deposit: { player: 'required', amount: 'required', details: WHO },
  withdrawal: { player: 'required', amount: 'required', details: WHO },
  activity: {
    player: 'required',
    amount: 'none',
    details: ['date', 'bets', 'wins', 'bonuses', 'fees', 'adjustments'],
    requires: ['date'],
    anyOf: ['bets', 'wins', 'bonuses', 'fees', 'adjustments'],
  },
  trade: { player: 'required', amount: 'none', details: ['instrument', 'lots', 'spread', 'commission'], requires: ['instrument', 'lots'] },
  challenge_purchase: { player: 'required', amount: 'required', details: ['challenge_id', 'plan'] },
  challenge_reset: { player: 'required', amount: 'required', details: ['challenge_id', 'plan'] },
  // ref_event_id: the purchase refunded (its fee share is taken back, and a CPA resting on it in its hold)
  challenge_refund: { player: 'required', amount: 'required', details: ['challenge_id', 'plan', 'ref_event_id'] },
  challenge_funded: { player: 'required', amount: 'optional', details: ['challenge_id', 'plan'] },
  chargeback: { player: 'required', amount: 'required', details: ['ref_event_id'] },
  refund: { player: 'required', amount: 'required', details: ['ref_event_id'] },
  player_status: { player: 'required', amount: 'none', details: ['status'], requires: ['status'] },
}

const article = (k: string) => (/^([aeiou]|ftd)/.test(k) ? `an ${k}` : `a ${k}`)

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
    /** when it happened (ingest/occurred.ts says what is accepted); default the time received */
    occurred_at: z.unknown().optional(),
    ...(Object.fromEntries(DETAIL_FIELDS.map((f) => [f, z.unknown().optional()])) as Record<DetailField, z.ZodOptional<z.ZodUnknown>>),
  })
  .transform((p, ctx) => {
    const rule = KIND_RULES[p.event]
    const k = article(p.event.replace('_', ' '))
    if (!p.player_id && (rule.player === 'required' || !p.click_id))
      ctx.addIssue({
        code: 'custom',
        path: ['player_id'],
        message: rule.player === 'required' ? `is required for ${k}` : `player_id or click_id is required for ${k}`,
      })
    if (rule.amount === 'required' && p.amount === undefined) ctx.addIssue({ code: 'custom', path: ['amount'], message: `is required for ${k}` })
    if (p.amount !== undefined && p.amount.startsWith('-')) ctx.addIssue({ code: 'custom', path: ['amount'], message: 'must not be negative' })
    const details: Partial<Record<DetailField, string>> = {}
    for (const f of rule.details) {
      if (p[f] === undefined || p[f] === '') continue
      const r = DETAIL_SCHEMAS[f].safeParse(p[f])
      if (r.success) details[f] = r.data
      else ctx.addIssue({ code: 'custom', path: [f], message: r.error.issues[0]?.message ?? 'is invalid' })
    }
    for (const f of rule.requires ?? []) if (p[f] === undefined || p[f] === '') ctx.addIssue({ code: 'custom', path: [f], message: `is required for ${k}` })
    if (rule.anyOf && !rule.anyOf.some((f) => p[f] !== undefined && p[f] !== ''))
      ctx.addIssue({ code: 'custom', path: [rule.anyOf[0]!], message: `${k} needs at least one of ${rule.anyOf.join(', ')}` })
    const amount = rule.amount === 'none' ? undefined : p.amount
    const money = amount !== undefined || MONEY_DETAILS.some((f) => details[f] !== undefined)
    if (money && !p.currency) ctx.addIssue({ code: 'custom', path: ['currency'], message: 'is required with an amount' })
    // The clock is read here, at parse time: "in the future" is relative to when it arrives.
    const occurred = p.occurred_at === undefined || p.occurred_at === '' ? undefined : parseOccurredAt(p.occurred_at, Date.now())
    if (occurred && !occurred.ok) ctx.addIssue({ code: 'custom', path: ['occurred_at'], message: occurred.message })
    return {
      source: p.source,
      ...(p.token !== undefined ? { token: p.token } : {}),
      event: p.event,
      event_id: p.event_id,
      ...(p.click_id !== undefined ? { click_id: p.click_id } : {}),
      ...(p.player_id !== undefined ? { player_id: p.player_id } : {}),
      ...(amount !== undefined ? { amount } : {}),
      ...(money && p.currency ? { currency: p.currency } : {}),
      ...(occurred?.ok ? { occurred_at: occurred.ms } : {}),
      ...(Object.keys(details).length ? { details } : {}),
    }
  })
export type Postback = z.infer<typeof PostbackSchema>

export type PostbackAnswer = { status: 'accepted'; event: string; event_id: string; seq: number }

/** The first answer to an event id. `h`: hash of the content as sent (what earlier versions
 *  compare); `c`: with amounts as decimals. A record without `c` was written before amounts
 *  were compared as decimals. */
type Record_ = { h: string; c?: string; seq?: number }

export type PostbackDeps = {
  sources: WatchedBucket<Source>
  idempotency: KV
  publisher: Publisher
  /** postbacks per window per client address and per authenticated source; 0: no limit */
  rate?: { perAddress: number; perSource: number; windowMs: number }
}

type Limiter = ReturnType<FastifyInstance['createRateLimit']>
type LimitResult = Awaited<ReturnType<Limiter>>

function tooMany(reply: FastifyReply, r: LimitResult, who: string, windowMs: number) {
  if (r.isAllowed || !r.isExceeded) return undefined
  const after = Math.max(1, r.ttlInSeconds)
  return reply
    .code(429)
    .header('retry-after', String(after))
    .send({ error: 'rate_limited', reason: `more than ${r.max} postbacks in ${windowMs / 1000} s from ${who}; retry after ${after} s` })
}

const enc = new TextEncoder()
const dec = new TextDecoder()

/** What makes two postbacks "the same event": everything but the credentials. `decimals`:
 *  amounts by value (250.0 = 250.00), else as written. The occurred time is compared as an
 *  instant (09:30Z = 10:30+01:00), and only when given: a postback without one hashes as
 *  before the field existed, so a replay of an older postback is still recognised. */
export function contentHash(p: Postback, decimals = true): string {
  const amount = (f: string, v: string) => (decimals && (f === 'amount' || DECIMAL_DETAILS.has(f as DetailField)) ? canonicalAmount(v) : v)
  const details = p.details
    ? Object.entries(p.details)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([f, v]) => [f, amount(f, v)])
    : null
  const canonical = JSON.stringify([
    p.source,
    p.event,
    p.event_id,
    p.click_id ?? null,
    p.player_id ?? null,
    p.amount !== undefined ? amount('amount', p.amount) : null,
    p.currency ?? null,
    ...(details ? [details] : []),
    ...(p.occurred_at !== undefined ? [{ occurred_at: p.occurred_at }] : []),
  ])
  return createHash('sha256').update(canonical).digest('hex')
}

function idemKey(p: Postback): string {
  return `pb.${p.source}.${createHash('sha256').update(p.event_id).digest('hex').slice(0, 40)}`
}

function fail(reply: FastifyReply, code: number, error: string, reason: string, fields?: Record<string, string>) {
  return reply.code(code).send({ error, reason, ...(fields ? { fields } : {}) })
}

/** Seconds a caller is asked to wait before retrying during an outage. */
export const OUTAGE_RETRY_AFTER_S = 5

function unavailable(reply: FastifyReply, reason: string) {
  return reply.code(503).header('retry-after', String(OUTAGE_RETRY_AFTER_S)).send({ error: 'unavailable', reason })
}

/** Constant-time comparison of two hex digests (or any two strings). */
function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

export const HMAC_WINDOW_S = 300

/** X-Signature for an HMAC source: hex HMAC-SHA256 over `${timestamp}.${payload}`, where the
 *  payload is the raw request body (POST) or the raw query string (GET). */
export function signPostback(secret: string, timestamp: string, payload: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${payload}`).digest('hex')
}

type AuthFailure = { code: 401 | 403; error: string; reason: string }

/** The previous credential of a rotated source, while its grace period lasts. */
function previousValid(source: Source, nowMs: number): boolean {
  return source.previousValidUntil !== undefined && nowMs < source.previousValidUntil
}

const until = (ms: number) => new Date(ms).toISOString()

/** Who is posting: the source's IP allow-list, then its token or signature (the current one,
 *  or after a rotation the previous one until previousValidUntil). */
export function authenticate(
  source: Source,
  req: { ip: string; headers: Record<string, string | string[] | undefined>; token?: unknown; payload: string },
  allow: IpAllowList,
  nowMs: number,
): AuthFailure | undefined {
  if (!allow.allows(req.ip)) return { code: 403, error: 'forbidden', reason: `address ${req.ip} is not on this source's allow-list` }
  if (source.auth === 'token') {
    const header = req.headers['x-postback-token']
    const token = typeof header === 'string' ? header : typeof req.token === 'string' ? req.token : undefined
    if (!token) return { code: 401, error: 'unauthorized', reason: 'token required (X-Postback-Token header or token parameter)' }
    if (secretMatches(token, source.tokenHash)) return undefined
    if (source.previousTokenHash && secretMatches(token, source.previousTokenHash)) {
      if (previousValid(source, nowMs)) return undefined
      // Only a holder of the old token learns this: it tells the operator what happened.
      return {
        code: 401,
        error: 'unauthorized',
        reason: `this token was replaced; the previous token stopped working at ${until(source.previousValidUntil ?? 0)}`,
      }
    }
    return { code: 401, error: 'unauthorized', reason: 'wrong token' }
  }
  const ts = req.headers['x-timestamp']
  const sig = req.headers['x-signature']
  if (typeof ts !== 'string' || typeof sig !== 'string')
    return { code: 401, error: 'unauthorized', reason: 'signature required (X-Timestamp and X-Signature headers)' }
  if (!/^\d{1,12}$/.test(ts) || Math.abs(nowMs / 1000 - Number(ts)) > HMAC_WINDOW_S)
    return {
      code: 401,
      error: 'unauthorized',
      reason: `stale or future timestamp: X-Timestamp must be unix seconds within ${HMAC_WINDOW_S / 60} minutes of now`,
    }
  const given = sig.replace(/^sha256=/, '').toLowerCase()
  if (sameText(signPostback(source.hmacSecret ?? '', ts, req.payload), given)) return undefined
  if (source.previousHmacSecret && sameText(signPostback(source.previousHmacSecret, ts, req.payload), given)) {
    if (previousValid(source, nowMs)) return undefined
    return {
      code: 401,
      error: 'unauthorized',
      reason: `signed with a replaced key; the previous key stopped working at ${until(source.previousValidUntil ?? 0)}`,
    }
  }
  return { code: 401, error: 'unauthorized', reason: 'bad signature' }
}

/** The platform's parameter names → ours, by the source's field and event mappings. */
export function applyMapping(input: Record<string, unknown>, source: Pick<Source, 'fieldMap' | 'eventMap'>): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null)
  for (const k of Object.keys(input)) out[k] = input[k]
  for (const [ours, theirs] of Object.entries(source.fieldMap)) {
    if (theirs !== undefined && Object.hasOwn(input, theirs)) out[ours] = input[theirs]
  }
  if (typeof out.event === 'string' && Object.hasOwn(source.eventMap, out.event)) out.event = source.eventMap[out.event]
  return out
}

export function postbackRoutes(app: FastifyInstance, deps: PostbackDeps) {
  // The authenticated source a request is counted under (the per-source limiter's key).
  const sourceKey = new WeakMap<FastifyRequest, string>()
  let perSource: Limiter | undefined

  // Allow-lists are built once per source version, not per request.
  const allowLists = new WeakMap<Source, IpAllowList>()
  const allowListOf = (s: Source) => {
    let l = allowLists.get(s)
    if (!l) allowLists.set(s, (l = new IpAllowList(s.ipAllow)))
    return l
  }

  const handler = async (req: FastifyRequest, input: Record<string, unknown>, payload: string, reply: FastifyReply) => {
    // Who is asking comes first: an unauthenticated caller learns nothing about validation.
    const header = req.headers['x-postback-source']
    const sourceParam = typeof header === 'string' ? header : input.source
    const sourceId =
      typeof sourceParam === 'string' && /^\d{1,9}$/.test(sourceParam) ? Number(sourceParam) : typeof sourceParam === 'number' ? sourceParam : NaN
    if (!Number.isInteger(sourceId) || sourceId <= 0)
      return fail(reply, 400, 'invalid_postback', 'source must be the numeric id of a postback source', {
        source: 'must be the numeric id of a postback source',
      })
    const source = deps.sources.map.get(`s.${sourceId}`)
    if (!source) return fail(reply, 401, 'unauthorized', 'unknown source')
    const denied = authenticate(source, { ip: req.ip, headers: req.headers, token: input.token, payload }, allowListOf(source), Date.now())
    if (denied) return fail(reply, denied.code, denied.error, denied.reason)
    // Counted only once authenticated: a stranger who knows a source id cannot use up its budget.
    if (perSource) {
      sourceKey.set(req, String(sourceId))
      const limited = tooMany(reply, await perSource(req), `source ${sourceId}`, deps.rate!.windowMs)
      if (limited) return limited
    }

    const parsed = PostbackSchema.safeParse({ ...applyMapping(input, source), source: sourceId })
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
    // During an outage, say so at once: never spooled, the platform retries (same event_id).
    const health = deps.publisher.health
    if (!health.ok) return unavailable(reply, `the event stream is unavailable (${health.reason}); retry later`)
    try {
      return await store(p, reply)
    } catch (err) {
      if (err instanceof ShuttingDownError) return unavailable(reply, 'ingest is shutting down; retry')
      if (err instanceof StreamUnavailableError || err instanceof PublishError || err instanceof NatsError)
        return unavailable(reply, `the event stream is unavailable (${err.message}); retry later`)
      throw err
    }
  }

  /** Record the first answer, publish, answer: idempotent by event id. */
  const store = async (p: Postback, reply: FastifyReply) => {
    const key = idemKey(p)
    const h = contentHash(p, false)
    const c = contentHash(p)
    let existing = await deps.idempotency.get(key)
    if (!existing || existing.operation !== 'PUT') {
      try {
        await deps.idempotency.create(key, enc.encode(JSON.stringify({ h, c } satisfies Record_)))
        existing = null
      } catch (err) {
        if (!isCasConflict(err)) throw err
        existing = await deps.idempotency.get(key)
      }
    }
    if (existing && existing.operation === 'PUT') {
      const rec = JSON.parse(dec.decode(existing.value)) as Record_
      if (rec.c !== undefined ? rec.c !== c : rec.h !== h)
        return fail(reply, 409, 'conflict', `event_id '${p.event_id}' was already received with different content`)
      if (rec.seq !== undefined) return answer(p, rec.seq)
      // The first request is still publishing (or died doing so): publish again under the
      // same Nats-Msg-Id; the stream keeps one copy and answers with its sequence.
    }

    const ts = Date.now()
    const ev: ConversionEvent = {
      kind: p.event,
      id: conversionKey(p.source, p.event_id),
      sourceId: p.source,
      eventId: p.event_id,
      ts,
      occurredAt: p.occurred_at ?? ts,
      ...(p.click_id ? { clickId: p.click_id } : {}),
      ...(p.player_id ? { playerId: p.player_id } : {}),
      ...(p.amount !== undefined ? { amount: p.amount } : {}),
      ...(p.currency !== undefined ? { currency: p.currency } : {}),
      ...(p.details ? { details: p.details } : {}),
    }
    const ack = await deps.publisher.conversion(ev, conversionOrderKey(ev))
    await deps.idempotency.put(key, enc.encode(JSON.stringify({ h, c, seq: ack.seq } satisfies Record_)))
    return answer(p, ack.seq)
  }

  const answer = (p: Postback, seq: number): PostbackAnswer => ({ status: 'accepted', event: p.event, event_id: p.event_id, seq })

  // Its own scope: body parsers that keep the raw body, which an HMAC signature covers.
  app.register(async (scope) => {
    const rate = deps.rate
    if (rate && (rate.perAddress > 0 || rate.perSource > 0)) {
      // Here only: the click path never pays for it.
      await scope.register(rateLimit, { global: false })
      if (rate.perAddress > 0) {
        const perAddress = scope.createRateLimit({ max: rate.perAddress, timeWindow: rate.windowMs, allowList: (req) => isLoopback(req.ip) })
        // Before the body is read: a flood costs no parsing.
        scope.addHook('onRequest', async (req, reply) => tooMany(reply, await perAddress(req), `address ${req.ip}`, rate.windowMs))
      }
      if (rate.perSource > 0)
        perSource = scope.createRateLimit({ max: rate.perSource, timeWindow: rate.windowMs, keyGenerator: (req) => sourceKey.get(req) ?? '' })
    }
    scope.removeAllContentTypeParsers()
    const raw = (parse: (body: string) => unknown) => (req: FastifyRequest, body: string, done: (err: Error | null, v?: unknown) => void) => {
      ;(req as FastifyRequest & { rawBody?: string }).rawBody = body
      try {
        done(null, parse(body))
      } catch (err) {
        done(err instanceof JsonBodyError ? err : Object.assign(new Error('the body is not valid JSON'), { statusCode: 400 }))
      }
    }
    // Numbers keep their exact text (common/json.ts): an amount sent as a JSON number is never rounded.
    scope.addContentTypeParser('application/json', { parseAs: 'string' }, raw(parseJson))
    scope.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string' },
      raw((b) => Object.fromEntries(new URLSearchParams(b))),
    )
    scope.get('/postback', (req, reply) => {
      const q = req.url.indexOf('?')
      return handler(req, req.query as Record<string, unknown>, q < 0 ? '' : req.url.slice(q + 1), reply)
    })
    scope.post('/postback', (req, reply) => {
      const body = req.body
      if (!body || typeof body !== 'object' || Array.isArray(body)) return fail(reply, 400, 'invalid_postback', 'send a JSON object or a form body')
      return handler(req, body as Record<string, unknown>, (req as FastifyRequest & { rawBody?: string }).rawBody ?? '', reply)
    })
  })
}
