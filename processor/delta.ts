/**
 * Live deltas: what a processed batch added, per affiliate and minute. The processor
 * publishes one message per batch, tagged with the batch's stream range, so a reader that
 * sees the same range twice (a batch redone after a crash) counts it once.
 */
import type { DeltaRow, LiveDelta } from '../common/live.js'
import { D } from '../common/money.js'

export type { DeltaRow, LiveDelta }

export class DeltaBuilder {
  readonly #rows = new Map<string, DeltaRow>()

  row(affiliateId: number, ts: number): DeltaRow {
    const minute = ts - (ts % 60_000)
    const key = `${affiliateId}:${minute}`
    let r = this.#rows.get(key)
    if (!r) {
      r = { affiliateId, minute, clicks: 0, registrations: 0, ftds: 0, unattributed: 0, commission: {} }
      this.#rows.set(key, r)
    }
    return r
  }

  addCommission(r: DeltaRow, currency: string, amount: string) {
    r.commission[currency] = new D(r.commission[currency] ?? 0).plus(amount).toFixed()
  }

  merge(rows: readonly DeltaRow[]) {
    for (const x of rows) {
      const r = this.row(x.affiliateId, x.minute)
      r.clicks += x.clicks
      r.registrations += x.registrations
      r.ftds += x.ftds
      r.unattributed += x.unattributed
      if (x.filtered) r.filtered = (r.filtered ?? 0) + x.filtered
      for (const [c, a] of Object.entries(x.commission)) this.addCommission(r, c, a)
    }
  }

  rows(): DeltaRow[] {
    return [...this.#rows.values()]
  }
}
