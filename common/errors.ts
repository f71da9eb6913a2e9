/**
 * Errors every tier's HTTP answers share, and the one error handler that maps them to
 * `{error, reason, fields?}`. A tier throws these; the process that listens (the launcher)
 * installs `errorHandler` without knowing any tier.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AuditError } from './audit.js'

/** A 4xx (or 503) with a machine-readable code and a reason a person can act on. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly reason: string,
    readonly fields?: Record<string, string>,
  ) {
    super(reason)
  }
}

/** A compare-and-set or uniqueness conflict in the entity store: 409. */
export class ConflictError extends Error {}
/** The entity a change names does not exist: 404. */
export class NotFoundError extends Error {}

export function sendError(reply: FastifyReply, e: HttpError) {
  return reply.code(e.status).send({ error: e.error, reason: e.reason, ...(e.fields ? { fields: e.fields } : {}) })
}

/** 5xx details stay in the log; the caller gets a reason it can act on for everything else. */
export function errorHandler(err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply) {
  if (err instanceof HttpError) return sendError(reply, err)
  if (err instanceof ConflictError) return reply.code(409).send({ error: 'conflict', reason: err.message })
  if (err instanceof NotFoundError) return reply.code(404).send({ error: 'not_found', reason: err.message })
  if (err instanceof AuditError) {
    req.log.error({ err, url: req.url.split('?')[0], method: req.method }, 'audit append failed')
    return reply.code(503).send({ error: 'audit_unavailable', reason: err.message })
  }
  const status = (err as FastifyError).statusCode ?? 500
  if (status < 500) return reply.code(status).send({ error: 'bad_request', reason: err.message })
  req.log.error({ err, url: req.url.split('?')[0], method: req.method }, 'request failed')
  return reply.code(500).send({ error: 'internal', reason: 'internal error; see the server log' })
}
