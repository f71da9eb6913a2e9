/**
 * The period close as a command on the event stream (docs/settlement.md). The query API checks
 * and publishes it; the player stage passes it on to the affiliate stage at its position, so it
 * is ordered with the events exactly, live, on redelivery and on replay. Its message id is
 * `close:<period>`: the stream's duplicate check keeps a second close of a period out.
 */
import { z } from 'zod'
import { AmountSchema, StoredCurrencySchema } from './money.js'
import type { PeriodKind } from './deals.js'
import { PeriodSchema } from './periods.js'
import { eventSubject } from './subjects.js'

export const ROUNDINGS = ['half_even', 'half_up', 'down'] as const

export const CloseCommandSchema = z
  .object({
    /** a month (2026-03) or an ISO week (2026-W10) */
    period: PeriodSchema,
    /** when the close counts as made (ms): a hold ended by then is payable */
    asOf: z.number().int().nonnegative(),
    rounding: z.enum(ROUNDINGS),
    /** the smallest payment per currency; a smaller total is carried to the next statement */
    threshold: z.record(StoredCurrencySchema, AmountSchema).optional(),
    /** who closed it */
    by: z.string().min(1),
  })
  .strict()
export type CloseCommand = z.infer<typeof CloseCommandSchema>

/** Closes go on one subject of partition 0: one owner forwards them (see docs/settlement.md). */
export const CLOSE_SUBJECT = eventSubject(0, 'close')

export const closeIdOf = (period: string) => `close:${period}`

/** The program's last close per period kind, as the affiliate stage keeps it in its books
 *  bucket under PROGRAM_KEY: a fact of a period at or before it is late. */
export type ClosedPeriods = Partial<Record<PeriodKind, { period: string; asOf: number }>>
export const PROGRAM_KEY = 'program'

/** A manual adjustment on the event stream: finance's correction of an affiliate's balance,
 *  with the reason a person reads; applied by the affiliate stage as a ledger line of the open
 *  month, in its place among the events. */
export const AdjustmentCommandSchema = z
  .object({
    /** the adjustment's id: its ledger line is `adj:<id>`, its message id the same */
    id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
    affiliateId: z.number().int().positive(),
    amount: AmountSchema.refine((a) => !/^-?0*(\.0*)?$/.test(a), 'must not be zero'),
    currency: StoredCurrencySchema,
    reason: z.string().trim().min(1).max(500),
    /** when it was made (ms) */
    at: z.number().int().nonnegative(),
    by: z.string().min(1),
    /** a manual adjustment, or a payment of a statement (it settles the balance; no statement takes it) */
    kind: z.enum(['adjustment', 'payment']).default('adjustment'),
  })
  .strict()
export type AdjustmentCommand = z.infer<typeof AdjustmentCommandSchema>

export const ADJUST_SUBJECT = eventSubject(0, 'adjust')

/**
 * A fraud review's decision on a player's held money (docs/fraud.md): release it (approve) or
 * never pay it (reject, which also takes back what the player's traffic was already paid, as a
 * negative line on the next statement). Applied by the affiliate stage in its place among the
 * events, like an adjustment; its message id is `review:<id>`.
 */
export const ReviewCommandSchema = z
  .object({
    /** the decision's id: its ledger lines are named after it */
    id: z.string().regex(/^[A-Za-z0-9._:-]{1,100}$/),
    affiliateId: z.number().int().positive(),
    /** the player's processing key (what its lines are booked under), and its pseudonym */
    playerKey: z.string().min(1).max(300),
    playerRef: z.string().max(100),
    decision: z.enum(['approve', 'reject']),
    note: z.string().trim().min(1).max(500),
    /** when it was made (ms) */
    at: z.number().int().nonnegative(),
    by: z.string().min(1),
  })
  .strict()
export type ReviewCommand = z.infer<typeof ReviewCommandSchema>

export const REVIEW_SUBJECT = eventSubject(0, 'review')
