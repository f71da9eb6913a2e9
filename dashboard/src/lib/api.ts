/** The REST API, with the credential kept in localStorage. */
const KEY = 'amp.credential'

export const credential = {
  get: () => localStorage.getItem(KEY) ?? '',
  set: (v: string) => localStorage.setItem(KEY, v),
  clear: () => localStorage.removeItem(KEY),
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    reason: string,
  ) {
    super(reason)
  }
}

export async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const r = await fetch(path, {
    ...init,
    headers: { authorization: `Bearer ${credential.get()}`, ...(init.body ? { 'content-type': 'application/json' } : {}), ...init.headers },
  })
  const body = await r.json().catch(() => ({}))
  if (!r.ok) throw new ApiError(r.status, (body as { reason?: string }).reason ?? r.statusText)
  return body as T
}

export type Counters = { clicks: number; registrations: number; ftds: number; unattributed: number; commission: Record<string, string> }
export type Summary = {
  asOf: Record<string, number>
  totals: Counters
  byAffiliate: (Counters & { affiliateId: number })[]
  byMinute: (Counters & { minute: number })[]
}
export type DeltaRow = Counters & { affiliateId: number; minute: number }
export type Delta = { type: 'delta'; consumer: string; from: number; to: number; rows: DeltaRow[] }
/** Who signed in; an affiliate's token says until when it works (`expiresAt`, ISO). */
export type Principal = { kind: 'operator' } | { kind: 'affiliate'; affiliateId: number; expiresAt?: string }

/** When an affiliate token stops working: `aff.<id>.<expiry ms>.<mac>` carries it in the clear. */
export function tokenExpiry(token: string): number | undefined {
  const m = /^aff\.\d+\.(\d+)\./.exec(token)
  return m ? Number(m[1]) : undefined
}
