/**
 * Settlement periods, by the time an event happened (UTC): a calendar month ("2026-03") or
 * an ISO week ("2026-W10", weeks start on Monday). Pure.
 */
import type { PeriodKind } from '../../../common/deals.js'

const DAY = 86_400_000

export function periodOf(at: number, kind: PeriodKind): string {
  const d = new Date(at)
  if (kind === 'month') return d.toISOString().slice(0, 7)
  // ISO 8601 week: the week belongs to the year of its Thursday
  const day = (d.getUTCDay() + 6) % 7 // Monday 0
  const thursday = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - day + 3))
  const y = thursday.getUTCFullYear()
  const week = Math.floor((thursday.getTime() - Date.UTC(y, 0, 1)) / DAY / 7) + 1
  return `${y}-W${String(week).padStart(2, '0')}`
}

/** The UTC day of a time: "2026-03-04". */
export function dayOf(at: number): string {
  return new Date(at).toISOString().slice(0, 10)
}
