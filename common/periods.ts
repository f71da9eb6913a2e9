/**
 * Settlement periods, by the time an event happened (UTC): a calendar month ("2026-03") or
 * an ISO week ("2026-W10", weeks start on Monday). Pure.
 */
import { z } from 'zod'
import type { PeriodKind } from './deals.js'

const DAY = 86_400_000
const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/
const WEEK = /^(\d{4})-W(0[1-9]|[1-4]\d|5[0-3])$/

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

/** Whether a period is a month or a week; undefined when it is neither (or no such week). */
export function periodKindOf(period: string): PeriodKind | undefined {
  if (MONTH.test(period)) return 'month'
  if (WEEK.test(period) && periodOf(weekStart(period), 'week') === period) return 'week'
  return undefined
}

function weekStart(period: string): number {
  const [, y, w] = WEEK.exec(period)!
  // the Monday of ISO week 1 is the Monday on or before 4 January
  const jan4 = Date.UTC(Number(y), 0, 4)
  const monday1 = jan4 - ((new Date(jan4).getUTCDay() + 6) % 7) * DAY
  return monday1 + (Number(w) - 1) * 7 * DAY
}

/** A settlement period as input: a month or an ISO week that exists. */
export const PeriodSchema = z.string().refine((p) => periodKindOf(p) !== undefined, 'must be a month (2026-03) or an ISO week (2026-W10)')

/** When a period starts (ms, UTC midnight). */
export function periodStartOf(period: string): number {
  const m = MONTH.exec(period)
  if (m) return Date.UTC(Number(m[1]), Number(m[2]) - 1, 1)
  if (WEEK.test(period)) return weekStart(period)
  throw new Error(`not a period: ${period}`)
}

/** When a period ends: the start of the next (ms, exclusive). */
export function periodEndOf(period: string): number {
  const m = MONTH.exec(period)
  if (m) return Date.UTC(Number(m[1]), Number(m[2]), 1)
  return periodStartOf(period) + 7 * DAY
}

/** The period after this one, of the same kind. */
export function nextPeriod(period: string): string {
  return periodOf(periodEndOf(period), periodKindOf(period) ?? 'month')
}
