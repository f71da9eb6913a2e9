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

/** The period after `p` (for carrying a balance forward). */
export function nextPeriod(p: string): string {
  const w = /^(\d{4})-W(\d{2})$/.exec(p)
  if (w) {
    // the Thursday of that week, plus 7 days
    const y = Number(w[1])
    const jan4 = Date.UTC(y, 0, 4)
    const monday = jan4 - ((new Date(jan4).getUTCDay() + 6) % 7) * DAY + (Number(w[2]) - 1) * 7 * DAY
    return periodOf(monday + 7 * DAY, 'week')
  }
  const [y, m] = p.split('-').map(Number) as [number, number]
  return m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`
}

/** The UTC day of a time: "2026-03-04". */
export function dayOf(at: number): string {
  return new Date(at).toISOString().slice(0, 10)
}
