/**
 * What each counter counts, once, as SQL predicates over `kind` and `status`: the same text
 * runs against the raw `events` table (one row per event) and the `events_minute` rollup
 * (one row per group, summed), so the reconcile report compares like with like. The
 * processor's live delta (processor/pipeline.ts, `tally`) counts by the same rules.
 *
 * A reassignment row is the audit record of an operator's move, not a conversion: one to
 * organic has status `unattributed` but is no unattributed conversion.
 */
export const COUNTED = {
  clicks: `kind = 'click' AND status = 'valid'`,
  registrations: `kind = 'registration' AND status = 'attributed'`,
  ftds: `kind = 'ftd' AND status = 'attributed'`,
  unattributed: `kind NOT IN ('click', 'reassign') AND status = 'unattributed'`,
  /** raw only (the rollups keep no such counter) */
  duplicates: `kind != 'click' AND status = 'duplicate'`,
} as const
