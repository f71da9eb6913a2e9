/**
 * A ledger line's status as it stands now. A line's stored status is what it was when it was
 * written (lines are append-only and hash-chained); what it is now follows from it:
 *   - a pending line whose hold has ended (`payableAt` passed) is payable;
 *   - a reversal counts where the line it reverses counts now: a refund in the hold takes the
 *     CPA out of pending, a reversal of held money out of held (a review's decision), of
 *     rejected money out of rejected, and a reversal after the hold (netted against the next
 *     payment) out of payable. So payable + pending + held + rejected always equals what is
 *     accrued, the sum of the lines; rejected money is never paid.
 * The same rule in SQL is clickhouse/ledger.ts (a test runs both on the same lines).
 */
import type { LINE_STATUSES } from './vocabulary.js'

type Status = (typeof LINE_STATUSES)[number]
type Line = { status: Status; payableAt?: number | undefined; refLineId?: string | undefined }

export type StatusNow = 'pending' | 'payable' | 'held' | 'rejected'

function own(l: Pick<Line, 'status' | 'payableAt'>, now: number): StatusNow {
  if (l.status === 'pending') return l.payableAt !== undefined && l.payableAt <= now ? 'payable' : 'pending'
  return l.status === 'held' || l.status === 'rejected' ? l.status : 'payable'
}

/** `ref`: the line a reversal reverses (absent: counted as payable, netted against the next payment). */
export function statusNow(l: Line, ref: Line | undefined, now: number): StatusNow {
  if (l.status === 'reversed') return ref ? own(ref, now) : 'payable'
  return own(l, now)
}
