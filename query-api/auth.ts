/**
 * Who is asking. Two kinds of principal: the operator (an API key) and an affiliate (a
 * signed, expiring token scoped to one affiliate id). Every route states which it
 * accepts; an affiliate can only ever be served its own affiliate's data.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { HttpError } from '../common/errors.js'

export { HttpError }

export type Principal = { kind: 'operator' } | { kind: 'affiliate'; affiliateId: number }

export class Auth {
  readonly #operatorKey: Buffer
  constructor(
    operatorKey: string,
    private readonly tokenSecret: string,
    /** whether an affiliate is suspended: its tokens then open nothing */
    private readonly suspended: (affiliateId: number) => boolean = () => false,
  ) {
    this.#operatorKey = Buffer.from(operatorKey)
  }

  /** `aff.<id>.<expiry ms>.<mac>` */
  issueAffiliateToken(affiliateId: number, expiresAt: number): string {
    return `aff.${affiliateId}.${expiresAt}.${this.#mac(affiliateId, expiresAt)}`
  }

  #mac(id: number, exp: number): string {
    return createHmac('sha256', this.tokenSecret).update(`aff:${id}:${exp}`).digest('base64url')
  }

  /** Whether a principal may still be served (a connection opened before a suspension is closed). */
  allowed(p: Principal): boolean {
    return p.kind === 'operator' || !this.suspended(p.affiliateId)
  }

  /** The principal a credential stands for, or undefined (a suspended affiliate's too). */
  resolve(credential: string | undefined, now: number): Principal | undefined {
    const p = this.#resolve(credential, now)
    return p?.kind === 'affiliate' && this.suspended(p.affiliateId) ? undefined : p
  }

  #resolve(credential: string | undefined, now: number): Principal | undefined {
    if (!credential) return undefined
    if (credential.startsWith('aff.')) {
      // One spelling per claim set: decimal ids without leading zeros, nothing extra.
      const m = /^aff\.([1-9]\d{0,9})\.([1-9]\d{0,15})\.([A-Za-z0-9_-]{43})$/.exec(credential)
      if (!m) return undefined
      const affiliateId = Number(m[1])
      const expiresAt = Number(m[2])
      const mac = m[3]!
      const want = Buffer.from(this.#mac(affiliateId, expiresAt))
      const got = Buffer.from(mac)
      if (want.length !== got.length || !timingSafeEqual(want, got) || expiresAt <= now) return undefined
      return { kind: 'affiliate', affiliateId }
    }
    const got = Buffer.from(credential)
    if (got.length === this.#operatorKey.length && timingSafeEqual(got, this.#operatorKey)) return { kind: 'operator' }
    return undefined
  }

  /** When an affiliate token expires (ms epoch), read from the token itself; undefined for anything else. */
  tokenExpiry(credential: string | undefined): number | undefined {
    const m = credential?.startsWith('aff.') ? /^aff\.\d+\.(\d+)\./.exec(credential) : null
    return m ? Number(m[1]) : undefined
  }

  fromRequest(req: FastifyRequest): Principal {
    const cred = credentialOf(req)
    const p = this.#resolve(cred, Date.now())
    if (!p) throw new HttpError(401, 'unauthorized', cred ? 'invalid or expired credential' : 'send Authorization: Bearer <operator key or affiliate token>')
    if (p.kind === 'affiliate' && this.suspended(p.affiliateId)) throw new HttpError(403, 'affiliate_suspended', 'this affiliate account is suspended; contact your affiliate manager')
    return p
  }
}

/** The credential a request presents: `Authorization: Bearer …`, else `X-Api-Key`. */
export function credentialOf(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization
  return h?.startsWith('Bearer ') ? h.slice(7) : (req.headers['x-api-key'] as string | undefined)
}

export function requireOperator(p: Principal): void {
  if (p.kind !== 'operator') throw new HttpError(403, 'forbidden', 'operator only')
}

/** The affiliate a request may see: an affiliate is pinned to itself, whatever it asked for. */
export function scopeAffiliate(p: Principal, asked: number | undefined): number | undefined {
  if (p.kind === 'operator') return asked
  if (asked !== undefined && asked !== p.affiliateId) throw new HttpError(403, 'forbidden', 'an affiliate can only see its own data')
  return p.affiliateId
}
