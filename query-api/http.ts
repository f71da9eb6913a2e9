/**
 * What every /api plugin shares: who may call a route (declared in its config, enforced by
 * one hook before validation), the zod validator that answers 400 `{error:
 * 'invalid_request', reason, fields}`, the strict id and date schemas, and paging.
 */
import type { FraudSettings } from '../common/entities/fraud.js'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, FastifySchemaCompiler, RawServerDefault } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import type { KV } from 'nats'
import { z } from 'zod'
import type { ClickHouseClient } from '../clickhouse/client.js'
import type { Actor, EntityStore } from '../common/entities.js'
import { HttpError } from '../common/errors.js'
import type { Auth, Principal } from './auth.js'

/**
 * The roles a route may name. A new role (manager, finance, fraud analyst, read-only) or a
 * new credential kind (API keys) is a new principal kind that Auth resolves: routes keep
 * declaring role names and the hook keeps checking them.
 */
export const ROLES = ['operator', 'affiliate'] as const
export type Role = (typeof ROLES)[number]
export const OPERATOR: readonly Role[] = ['operator']
/** Routes whose handlers serve an operator everything and an affiliate its own: a new role
 *  joins such a route only once its handler says what that role may see. */
export const OPERATOR_OR_AFFILIATE: readonly Role[] = ['operator', 'affiliate']
/** Routes that only need to know who asks (whoami, the API document): every role. */
export const ANY_PRINCIPAL: readonly Role[] = ROLES

declare module 'fastify' {
  interface FastifyContextConfig {
    /** who may call the route; every /api route must say */
    who?: readonly Role[]
  }
  interface FastifyRequest {
    /** the caller, resolved by the access hook before validation */
    principal: Principal
  }
}

export type ApiDeps = {
  store: EntityStore
  ch: ClickHouseClient
  auth: Auth
  status: () => Promise<Record<string, unknown>>
  demo?: (opts: { clicks: number; ftds: number }) => Promise<unknown>
  /** start the traffic simulator's fraud patterns in clean traffic (with --demo); undefined while one runs */
  demoFraud?: () => { patterns: readonly string[]; clean: number } | undefined
  /** publish onto JetStream under a Nats-Msg-Id; resolves with the stream sequence */
  publish?: (subject: string, data: Uint8Array, msgId: string) => Promise<number>
  partitions?: number
  /** let outbound endpoints point at loopback and private addresses */
  allowPrivateEndpoints?: boolean
  /** per-player state (read only here: the migration import's dry run) */
  players?: KV
  /** the affiliate stage's books (read only here: the running RevShare balance) */
  books?: KV
  /** payout claims: which batch took each statement (compare-and-set, across processes) */
  payoutClaims?: KV
  /** affiliates' appeals against fraud findings, and their answers */
  appeals?: KV
  /** the fraud rules' settings before any stored change (FRAUD_SETTINGS) */
  fraudBase?: FraudSettings
  /** the keyed hash of a player id the processor records (the audit log keys players by it) */
  pseudonym?: (playerId: string) => string
  /** requests per client address and window on /api (none: unlimited) */
  rateLimit?: { max: number; windowMs: number }
  /** run a commission scenario on the processor tier (request-reply over NATS) */
  simulate?: (scenario: unknown) => Promise<unknown>
  /** what invoices show and how they are printed, and the account payouts are paid from */
  invoices?: { programName: string; chromium: string; payer?: { name: string; iban?: string; bic?: string } }
}

/** A Fastify instance whose route schemas are zod: handlers see the parsed (output) types. */
export type ZodApp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, ZodTypeProvider>
export type ApiPlugin = (app: ZodApp, d: ApiDeps) => Promise<void> | void

/** The principal's role: today its kind. */
export const roleOf = (p: Principal): Role => p.kind

/** Resolve the caller and check the route's roles: 401 before anything is parsed, then 403. */
export function accessHook(auth: Auth) {
  return async (req: FastifyRequest, _reply: unknown, _payload: unknown): Promise<void> => {
    // Every route says who may call it (app.ts refuses one that does not at boot).
    const who = req.routeOptions.config.who ?? OPERATOR
    const p = auth.fromRequest(req)
    if (!who.includes(roleOf(p)))
      throw new HttpError(403, 'forbidden', who.length === 1 && who[0] === 'operator' ? 'operator only' : `only for ${who.join(', ')}`)
    req.principal = p
  }
}

/** The audit log's name for a principal. */
export const actor = (p: Principal): Actor => (p.kind === 'operator' ? 'operator' : `affiliate:${p.affiliateId}`)

/** A 400 naming each field and what is wrong with it. */
export function invalidRequest(err: z.ZodError): HttpError {
  const fields: Record<string, string> = {}
  for (const i of err.issues) fields[i.path.join('.') || '_'] ??= i.message
  return new HttpError(
    400,
    'invalid_request',
    Object.entries(fields)
      .map(([f, m]) => `${f}: ${m}`)
      .join('; '),
    fields,
  )
}

export function parse<T>(schema: z.ZodType<T>, data: unknown): T {
  const r = schema.safeParse(data ?? {})
  if (r.success) return r.data
  throw invalidRequest(r.error)
}

/** Route schemas are zod; a request without a body is validated as `{}`. */
export const validatorCompiler: FastifySchemaCompiler<z.ZodType> =
  ({ schema }) =>
  (data) => {
    const r = schema.safeParse(data ?? {})
    return r.success ? { value: r.data } : { error: invalidRequest(r.error) }
  }

/** An id in a JSON body: a JSON integer, never a string, boolean, array or fraction. */
export const BodyId = z.number().int().positive().max(4_294_967_295)

/** Decimal digits only (no sign, spaces, exponent or hex), as a path or query parameter. */
const digits = (what: string) => z.string().regex(/^[0-9]{1,10}$/, `must be ${what} in decimal digits`)
/** An id in a path or query: decimal digits only. */
export const ParamId = digits('a positive integer').transform(Number).pipe(z.number().int().positive('must be a positive integer').max(4_294_967_295))
/** 0 or more, decimal digits only (a filter where 0 means "none", a cursor). */
export const ParamCount = digits('a number').transform(Number).pipe(z.number().int().nonnegative().max(4_294_967_295))
export const IdParams = z.object({ id: ParamId })
export const Limit = digits('a number').transform(Number).pipe(z.number().int().min(1).max(1000)).default(100)

/** What the store holds: the rollups keep time as DateTime (seconds, 1970 to 2106). */
export const EARLIEST = Date.UTC(1970, 0, 1)
export const LATEST = Date.UTC(2106, 1, 7, 6, 28, 15)
/** A time in a report or event-log query: ISO 8601 (a date, or a time with Z or an offset), within what the store holds. */
export const ApiDate = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()], { message: 'must be an ISO 8601 date or time such as 2026-01-31T00:00:00Z' })
  .transform((s) => new Date(s))
  .refine((d) => d.getTime() >= EARLIEST && d.getTime() <= LATEST, 'must be between 1970-01-01T00:00:00Z and 2106-02-07T06:28:15Z')

/** Paging shared by entity lists: newest ids last, `cursor` is the last id of the previous page. */
export const Page = z.object({ limit: Limit, cursor: ParamCount.optional() })

export function page<T extends { id: number }>(all: T[], q: { limit: number; cursor?: number }): { items: T[]; next?: string } {
  const sorted = all.filter((x) => q.cursor === undefined || x.id > q.cursor).sort((a, b) => a.id - b.id)
  const items = sorted.slice(0, q.limit)
  return { items, ...(sorted.length > q.limit ? { next: String(items.at(-1)!.id) } : {}) }
}

/** Which statuses a list shows: an operator what it asks for (all by default), an affiliate only active ones. */
export function visibleStatus(p: Principal, asked: 'active' | 'paused' | undefined): (status: string) => boolean {
  if (p.kind !== 'operator') return (s) => s === 'active' && asked !== 'paused'
  return (s) => asked === undefined || s === asked
}

export const noSuch = (field: string, what: string) => new HttpError(400, 'invalid_request', `no ${what}`, { [field]: 'does not exist' })

/** The stream is needed (reassign, import, outbound): 503 where this process cannot reach it. */
export function publisher(d: ApiDeps): NonNullable<ApiDeps['publish']> {
  if (!d.publish || !d.partitions) throw new HttpError(503, 'unavailable', 'this process cannot reach the event stream')
  return d.publish
}
