/** Postback sources: the operator platforms that report conversions, and how to read them. */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { z } from 'zod'
import { CONVERSION_KINDS, POSTBACK_FIELDS } from '../events.js'
import { CidrSchema } from '../ipallow.js'
import { type Actor, mergePatch, Repository } from './kv.js'

/** A parameter name as an operator's platform sends it. */
const ParamName = z.string().regex(/^[A-Za-z0-9_.\-\[\]]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ . - [ ]')

export const SourceSettingsSchema = z.object({
  /** token: a secret in X-Postback-Token or `token`; hmac: X-Signature = HMAC-SHA256(secret, X-Timestamp + "." + raw body or query) */
  auth: z.enum(['token', 'hmac']).default('token'),
  /** addresses or CIDR ranges the source may post from; empty: any */
  ipAllow: z.array(CidrSchema).max(100).default([]),
  /** our field → the platform's parameter name, e.g. { player_id: 'userid' } */
  fieldMap: z.partialRecord(z.enum(POSTBACK_FIELDS), ParamName).default({}),
  /** the platform's event name → ours, e.g. { signup: 'registration' } */
  eventMap: z.record(ParamName, z.enum(CONVERSION_KINDS)).default({}),
})
export type SourceSettings = z.infer<typeof SourceSettingsSchema>

export const SourceSchema = SourceSettingsSchema.extend({
  id: z.number().int().positive(),
  name: z.string(),
  /** sha256 of the token (auth: token) */
  tokenHash: z.string(),
  /** the HMAC key itself (auth: hmac): verifying a signature needs it; never shown after creation */
  hmacSecret: z.string().optional(),
  /** After a rotation, the previous credential keeps working until previousValidUntil (ms
   *  epoch): the sha256 of the previous token, or the previous HMAC key. */
  previousTokenHash: z.string().optional(),
  previousHmacSecret: z.string().optional(),
  previousValidUntil: z.number().int().optional(),
  createdAt: z.number().int(),
  updatedAt: z.number().int().optional(),
})
export type Source = z.infer<typeof SourceSchema>

export function sha256hex(s: string): string {
  return createHash('sha256').update(s).digest('hex')
}

/** Constant-time check of a presented secret against its stored sha256. */
export function secretMatches(presented: string, storedHash: string): boolean {
  const a = Buffer.from(sha256hex(presented), 'hex')
  const b = Buffer.from(storedHash, 'hex')
  return a.length === b.length && timingSafeEqual(a, b)
}

const key = (id: number) => `s.${id}`

export class SourceRepository extends Repository<Source> {
  /** Create a postback source. Its secret (a token, or an HMAC key) is returned once; a
   *  token is stored as its hash only. */
  async create(input: { name: string } & Partial<SourceSettings>, now: number, by: Actor = 'system'): Promise<{ source: Source; secret: string }> {
    const secret = randomBytes(24).toString('base64url')
    const settings = SourceSettingsSchema.parse(input)
    const source = SourceSchema.parse({
      id: await this.ids.next('source'),
      name: input.name,
      ...settings,
      tokenHash: settings.auth === 'token' ? sha256hex(secret) : '',
      ...(settings.auth === 'hmac' ? { hmacSecret: secret } : {}),
      createdAt: now,
    })
    await this.bucket.create(key(source.id), source, by, now)
    return { source, secret }
  }

  get(id: number): Source | undefined {
    return this.bucket.get(key(id))
  }

  /** Change a source's allow-list and mappings (not its credentials). */
  async update(id: number, patch: object, now: number, by: Actor = 'system'): Promise<Source> {
    return this.bucket.update(key(id), `no postback source ${id}`, (cur) => SourceSchema.parse({ ...mergePatch(cur, patch), updatedAt: now }), by, now)
  }

  /** A new secret for a source (token or HMAC key, as it has), returned once. With a grace
   *  period the previous secret keeps working until then; a rotation within a grace period
   *  ends the older one (only one previous secret is kept). */
  async rotate(id: number, graceMs: number, now: number, by: Actor = 'system'): Promise<{ source: Source; secret: string }> {
    const secret = randomBytes(24).toString('base64url')
    const source = await this.bucket.update(
      key(id),
      `no postback source ${id}`,
      (cur) => {
        const { previousTokenHash: _t, previousHmacSecret: _h, previousValidUntil: _u, ...rest } = cur
        const previous = cur.auth === 'token' ? { previousTokenHash: cur.tokenHash } : { previousHmacSecret: cur.hmacSecret }
        return SourceSchema.parse({
          ...rest,
          ...(cur.auth === 'token' ? { tokenHash: sha256hex(secret) } : { hmacSecret: secret }),
          ...(graceMs > 0 ? { ...previous, previousValidUntil: now + graceMs } : {}),
          updatedAt: now,
        })
      },
      by,
      now,
    )
    return { source, secret }
  }
}
