/**
 * An affiliate's portal access: its token expires (30 days by default). In the token's last
 * week the portal renews it itself (POST /api/tokens/renew) and keeps the new one, so a
 * partner who opens the portal now and then is never locked out; it can renew on demand.
 */
import { api, credential, tokenExpiry } from './api'

/** Renew when less than this is left. */
export const RENEW_WITHIN_MS = 7 * 86_400_000
const CHECK_EVERY_MS = 3_600_000

export class Access {
  expiresAt = $state<number | undefined>(undefined)
  renewing = $state(false)
  error = $state('')
  /** when the token was last renewed (this session), for "renewed" next to the date */
  renewedAt = $state<number | undefined>(undefined)
  #timer: ReturnType<typeof setInterval> | undefined

  /** Start following the token: `expiresAt` from whoami, else from the token itself. */
  start(expiresAt: string | undefined) {
    this.expiresAt = expiresAt ? Date.parse(expiresAt) : tokenExpiry(credential.get())
    void this.check()
    this.#timer = setInterval(() => void this.check(), CHECK_EVERY_MS)
  }

  stop() {
    clearInterval(this.#timer)
  }

  /** Renews when the last week has begun. */
  async check(now = Date.now()) {
    if (this.expiresAt !== undefined && this.expiresAt - now < RENEW_WITHIN_MS) await this.renew()
  }

  async renew() {
    if (this.renewing) return
    this.renewing = true
    this.error = ''
    try {
      const r = await api<{ token: string; expiresAt: string }>('/api/tokens/renew', { method: 'POST', body: '{}' })
      credential.set(r.token)
      this.expiresAt = Date.parse(r.expiresAt)
      this.renewedAt = Date.now()
    } catch (e) {
      this.error = `could not renew access: ${(e as Error).message}`
    } finally {
      this.renewing = false
    }
  }
}
