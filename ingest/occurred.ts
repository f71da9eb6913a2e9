/**
 * A postback's `occurred_at`: when the event happened on the operator's platform, as the
 * platform writes it. Deal versions, attribution windows and the facts' day go by this time,
 * so it is read strictly: a time without a zone would be a guess, and a digit too many is
 * refused rather than cut off.
 */

/** Accepted forms, as the 400 says them. */
export const OCCURRED_AT_FORMS = 'ISO 8601 with a zone (2026-11-28T09:30:00Z, 2026-11-28T10:30:00.250+01:00) or unix seconds (1795858200)'

/** The earliest time accepted: an earlier one is a platform's placeholder or a unit mistake. */
export const OCCURRED_MIN_MS = Date.UTC(2000, 0, 1)
/** How far ahead of our clock a platform's clock may be. */
export const OCCURRED_FUTURE_MS = 5 * 60_000

export type OccurredAt = { ok: true; ms: number } | { ok: false; message: string }

const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|([+-])(\d{2}):?(\d{2}))$/
// 11 digits reach the year 5138: anything longer is milliseconds or worse.
const UNIX_SECONDS = /^\d{1,11}$/

/** ms epoch of an ISO 8601 time with a zone, or undefined when it is not one (or not a real day and time). */
function isoMs(s: string): number | undefined {
  const m = ISO.exec(s)
  if (!m) return undefined
  const [y, mo, d, h, mi, sec = '0', frac = '0', , sign, oh = '0', om = '0'] = m.slice(1)
  const n = (x: string) => Number(x)
  if (n(mo!) < 1 || n(mo!) > 12 || n(d!) < 1 || n(h!) > 23 || n(mi!) > 59 || n(sec) > 59 || n(oh) > 23 || n(om) > 59) return undefined
  // the last day of the month: Date.UTC would roll 2026-02-30 over into March
  if (n(d!) > new Date(Date.UTC(n(y!), n(mo!), 0)).getUTCDate()) return undefined
  const local = Date.UTC(n(y!), n(mo!) - 1, n(d!), n(h!), n(mi!), n(sec), n(frac.padEnd(3, '0')))
  const offsetMs = (n(oh) * 60 + n(om)) * 60_000 * (sign === '-' ? -1 : 1)
  return local - offsetMs
}

/** `raw` as a ms epoch, within [2000-01-01, now + 5 minutes]; else why not. */
export function parseOccurredAt(raw: unknown, nowMs: number): OccurredAt {
  const s = typeof raw === 'number' && Number.isSafeInteger(raw) ? String(raw) : typeof raw === 'string' ? raw.trim() : undefined
  const ms = s === undefined ? undefined : UNIX_SECONDS.test(s) ? Number(s) * 1000 : isoMs(s)
  if (ms === undefined) return { ok: false, message: `must be ${OCCURRED_AT_FORMS}` }
  if (ms < OCCURRED_MIN_MS) return { ok: false, message: 'is before 2000-01-01' }
  if (ms > nowMs + OCCURRED_FUTURE_MS) return { ok: false, message: `is ${Math.round((ms - nowMs) / 60_000)} minutes in the future (at most ${OCCURRED_FUTURE_MS / 60_000} allowed for clock differences)` }
  return { ok: true, ms }
}
