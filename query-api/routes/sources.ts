/** Postback sources: the operator's platforms that report conversions. Secrets are shown once. */
import type { SourceView } from '../../common/api.js'
import { z } from 'zod'
import { patchOf, SourceSettingsSchema, type Source } from '../../common/entities.js'
import { IdParams, OPERATOR, Page, page, type ApiPlugin } from '../http.js'

const CreateSource = SourceSettingsSchema.extend({ name: z.string().trim().min(1).max(200) }).strict()
const UpdateSource = patchOf(SourceSettingsSchema.omit({ auth: true }).extend({ name: z.string().trim().min(1).max(200) }))
export const RotateSource = z.object({ graceHours: z.number().int().min(0).max(720).default(24) }).strict()

/** Never the token hash or the HMAC key; `previousValidUntil` while a previous secret is still accepted. */
export const sourceView = (s: Source, now = Date.now()): SourceView => ({
  id: s.id,
  name: s.name,
  auth: s.auth,
  ipAllow: s.ipAllow,
  fieldMap: s.fieldMap,
  eventMap: s.eventMap,
  createdAt: new Date(s.createdAt).toISOString(),
  ...(s.updatedAt ? { updatedAt: new Date(s.updatedAt).toISOString() } : {}),
  ...(s.previousValidUntil !== undefined && s.previousValidUntil > now ? { previousValidUntil: new Date(s.previousValidUntil).toISOString() } : {}),
})

/** The secret in the field its kind is shown under at creation and rotation. */
const secretField = (s: Source, secret: string) => (s.auth === 'token' ? { token: secret } : { secret })

export const sourceRoutes: ApiPlugin = (app, d) => {
  app.post('/api/sources', { config: { who: OPERATOR }, schema: { summary: 'Create a postback source; its secret is shown once', body: CreateSource } }, async (req, reply) => {
    const { source, secret } = await d.store.sources.create(req.body, Date.now(), 'operator')
    // The secret is shown once: a token is stored as its hash; an HMAC key never leaves again.
    return reply.code(201).send({ ...sourceView(source), ...secretField(source, secret) })
  })

  app.patch(
    '/api/sources/:id',
    { config: { who: OPERATOR }, schema: { summary: "Change a source's name, allow-list and mappings", params: IdParams, body: UpdateSource } },
    async (req) => sourceView(await d.store.sources.update(req.params.id, req.body, Date.now(), 'operator')),
  )

  // A new secret; the previous one keeps working for the grace period, so the platform can
  // switch without losing a postback. The new secret is shown once, like at creation.
  app.post(
    '/api/sources/:id/rotate',
    { config: { who: OPERATOR }, schema: { summary: "Rotate a source's secret; the previous one is accepted for graceHours", params: IdParams, body: RotateSource } },
    async (req) => {
      const now = Date.now()
      const { source, secret } = await d.store.sources.rotate(req.params.id, req.body.graceHours * 3_600_000, now, 'operator')
      return { ...sourceView(source, now), ...secretField(source, secret), previousValidUntil: source.previousValidUntil !== undefined && source.previousValidUntil > now ? new Date(source.previousValidUntil).toISOString() : null }
    },
  )

  app.get('/api/sources', { config: { who: OPERATOR }, schema: { summary: 'List postback sources (never their secrets), paged', querystring: Page } }, async (req) => {
    const r = page(d.store.sources.list(), req.query)
    return { ...r, items: r.items.map((s) => sourceView(s)) }
  })
}
