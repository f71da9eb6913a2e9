/** The operator's tools: migration import, the audit log, status, demo traffic; and whoami for anyone. */
import { z } from 'zod'
import { HttpError } from '../../common/errors.js'
import { AUDIT_ENTITIES } from '../../common/vocabulary.js'
import { credentialOf } from '../auth.js'
import { importRows, IMPORT_KINDS } from '../import.js'
import { ANY_PRINCIPAL, Limit, OPERATOR, publisher, type ApiPlugin } from '../http.js'
import { playerAuditKey } from './players.js'

const ImportParams = z.object({ kind: z.enum(IMPORT_KINDS, { message: `must be one of ${IMPORT_KINDS.join(', ')}` }) })
const ImportBody = z
  .object({
    rows: z.array(z.record(z.string(), z.string())).min(1).max(1000),
    /** the number of the first row in the caller's file, for the per-row answers */
    firstRow: z.number().int().positive().default(1),
  })
  .strict()
const ImportQuery = z.object({ dryRun: z.enum(['true', 'false', '1', '0']).default('false') })
const AuditQuery = z.object({
  entity: z.enum(AUDIT_ENTITIES).optional(),
  key: z.string().max(200).optional(),
  limit: Limit,
  /** the `next` of the previous page */
  before: z
    .string()
    .regex(/^[0-9]{1,15}$/, 'must be a sequence number in decimal digits')
    .transform(Number)
    .pipe(z.number().int().positive())
    .optional(),
  /** a player's records (the log keys players by their pseudonym, never the raw id) */
  playerId: z.string().max(128).optional(),
})
const DemoBody = z.object({ clicks: z.number().int().min(0).max(100_000).default(500), ftds: z.number().int().min(0).max(10_000).default(25) })

export const importRoutes: ApiPlugin = (app, d) => {
  app.post(
    '/api/import/:kind',
    {
      config: { who: OPERATOR },
      schema: { summary: 'Migration import: affiliates, links or players, up to 1,000 rows', params: ImportParams, body: ImportBody, querystring: ImportQuery },
    },
    async (req) => {
      const { kind } = req.params
      const dryRun = ['true', '1'].includes(req.query.dryRun)
      const publish = publisher(d)
      if (!d.players) throw new HttpError(503, 'unavailable', 'this process cannot reach the event stream')
      const results = await importRows(kind, req.body.rows, req.body.firstRow, dryRun, {
        store: d.store,
        players: d.players,
        partitions: d.partitions!,
        publish,
      })
      return { kind, dryRun, results }
    },
  )
}

export const auditRoutes: ApiPlugin = (app, d) => {
  app.get(
    '/api/audit',
    { config: { who: OPERATOR }, schema: { summary: 'Entity changes, newest first: who, when, before and after', querystring: AuditQuery } },
    async (req) => {
      const { playerId, ...q } = req.query
      return d.store.audit.list(playerId === undefined ? q : { ...q, entity: 'player', key: playerAuditKey(d, playerId) })
    },
  )

  app.get('/api/audit/verify', { config: { who: OPERATOR }, schema: { summary: 'Walk the hash chain of the audit log' } }, async () => d.store.audit.verify())
}

export const systemRoutes: ApiPlugin = (app, d) => {
  app.get('/api/status', { config: { who: OPERATOR }, schema: { summary: 'Processor progress and lag, publisher and NATS stats' } }, async () => d.status())

  app.post(
    '/api/demo/traffic',
    { config: { who: OPERATOR }, schema: { summary: 'A burst of demo traffic (with --demo)', body: DemoBody } },
    async (req, reply) => {
      if (!d.demo) throw new HttpError(404, 'not_found', 'demo traffic is off (start with --demo)')
      void d.demo(req.body)
      return reply.code(202).send({ accepted: req.body })
    },
  )

  app.post(
    '/api/demo/fraud',
    {
      config: { who: OPERATOR },
      schema: { summary: 'Clean demo traffic mixed with every fraud pattern the simulator sends (with --demo): watch the Fraud page' },
    },
    async (_req, reply) => {
      if (!d.demoFraud) throw new HttpError(404, 'not_found', 'demo traffic is off (start with --demo)')
      const started = d.demoFraud()
      if (!started) throw new HttpError(409, 'conflict', 'a fraud simulation is running already: watch the Fraud page')
      return reply.code(202).send({ accepted: true, patterns: started.patterns, clean: started.clean })
    },
  )

  // An affiliate also learns when the token it signed in with expires, to renew it in time.
  app.get(
    '/api/whoami',
    { config: { who: ANY_PRINCIPAL }, schema: { summary: 'Who the credential is (an affiliate: and when its token expires)' } },
    async (req) => {
      const p = req.principal
      if (p.kind !== 'affiliate') return p
      const exp = d.auth.tokenExpiry(credentialOf(req))
      return { ...p, ...(exp !== undefined ? { expiresAt: new Date(exp).toISOString() } : {}) }
    },
  )
}
