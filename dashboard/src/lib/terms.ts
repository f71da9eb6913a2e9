/** A deal version's terms in words, as the deal lists and the affiliates' notices show them. */
import { formatMoney } from './money'
import type { DealTerms } from './types'

const pct = (r: string) => `${(Number(r) * 100).toFixed(r.length > 6 ? 4 : 2).replace(/\.?0+$/, '')}%`
export function termsText(t: DealTerms): string[] {
  const c = t.currency
  const out: string[] = []
  if (t.cpa) {
    const q = t.cpa.qualification
    const cond = [
      q?.minFirstDeposit && `first deposit ≥ ${formatMoney(q.minFirstDeposit, c)}`,
      q?.minDeposits && `deposits ≥ ${formatMoney(q.minDeposits, c)}`,
      q?.minWagering && `wagering ≥ ${formatMoney(q.minWagering, c)}`,
      q?.wageringMultiple && `wagering ≥ ${q.wageringMultiple} × the minimum deposit`,
      q?.minBets && `${q.minBets} bets`,
      q?.minActiveDays && `${q.minActiveDays} active days`,
      q?.windowDays && `within ${q.windowDays} days of ${q.windowFrom === 'ftd' ? 'the first deposit' : 'registration'}`,
    ].filter(Boolean)
    out.push(
      `CPA ${formatMoney(t.cpa.amount, c)}` +
        (cond.length ? ` when ${cond.join(', ')}` : ' on the first deposit') +
        (t.cpa.holdDays ? `; held ${t.cpa.holdDays} days` : '') +
        (t.cpa.caps?.daily ? `; at most ${t.cpa.caps.daily} a day` : '') +
        (t.cpa.caps?.monthly ? `; at most ${t.cpa.caps.monthly} a ${t.period}` : '') +
        (t.cpa.retroTiers?.length ? `; from the ${t.cpa.retroTiers.map((r) => `${r.at}th: ${formatMoney(r.amount, c)} each`).join(', ')}` : '') +
        (t.cpa.ladderTiers?.length ? `; ladder: ${t.cpa.ladderTiers.map((r) => `${formatMoney(r.amount, c)} from the ${r.at}th`).join(', ')}` : '') +
        (t.cpa.clawback ? '; an advance against RevShare' : ''),
    )
  }
  if (t.cpl) out.push(`CPL ${formatMoney(t.cpl.amount, c)} per registration`)
  if (t.revshare) {
    const r = t.revshare
    const byFtds = r.tierBy === 'qualified_ftds'
    const bands =
      r.bands.length === 1
        ? pct(r.bands[0]!.rate)
        : byFtds
          ? `tiered by the ${t.period}'s qualified FTDs: ${r.bands.map((b) => `${pct(b.rate)} from ${b.from}`).join(', ')}`
          : `${r.mode}: ${r.bands.map((b) => `${pct(b.rate)} from ${formatMoney(b.from, c)}`).join(', ')}`
    out.push(`RevShare ${bands} of NGR per ${t.period}` + (Number(r.adminFee) ? `, after a ${pct(r.adminFee)} admin fee` : '') + (r.carryover ? ', negative balance carried' : ', no carryover'))
  }
  if (t.ib) {
    const per = Object.entries(t.ib.perLot).map(([g, a]) => `${formatMoney(a, c)}/lot ${g === '*' ? '' : g}`.trim())
    out.push(`IB ${per.join(', ') || ''}${t.ib.spreadShare ? ` ${pct(t.ib.spreadShare)} of spread` : ''}${t.ib.overridesPerLot.length ? `; overrides ${t.ib.overridesPerLot.map((o) => formatMoney(o, c)).join(' / ')} per lot` : ''}`)
  }
  if (t.prop) out.push(`Prop: ${pct(t.prop.firstPurchase)} of first purchases, ${pct(t.prop.reset)} of resets, held ${t.prop.refundWindowDays} days`)
  if (t.subAffiliate) out.push(`Sub-affiliates: ${t.subAffiliate.tiers.map((r, i) => `${pct(r)} of tier ${i + 1}`).join(', ')}`)
  return out
}
