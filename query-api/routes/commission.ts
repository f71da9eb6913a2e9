/**
 * Commission views over the ledger: the operator's overview (what is accrued, payable, pending
 * and held, by affiliate, brand, deal and period), an affiliate's live earnings (today, this
 * month, the running RevShare balance with what it carries), and the per-player breakdown from
 * deposits and GGR to NGR to commission (players by their pseudonym only). An affiliate sees
 * its own; an operator names the affiliate or sees all.
 */
import type { KV } from 'nats'
import { z } from 'zod'
import { queryRows } from '../../clickhouse/client.js'
import { FACT_SUMS_SQL, GGR_SQL, NGR_SQL } from '../../clickhouse/facts.js'
import { linesNow } from '../../clickhouse/ledger.js'
import type { CommissionOverviewRow, Earnings, PlayerBreakdown, RevshareBalance } from '../../common/api.js'
import { asDeal } from '../../common/entities.js'
import { HttpError } from '../../common/errors.js'
import { canonicalAmount } from '../../common/money.js'
import { revshareWalk, type RsPeriod } from '../../common/revshare.js'
import { scopeAffiliate } from '../auth.js'
import { OPERATOR_OR_AFFILIATE, ParamId, type ApiDeps, type ApiPlugin } from '../http.js'

const Period = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$|^\d{4}-W(0[1-9]|[1-4]\d|5[0-3])$/, 'must be a month (2026-03) or an ISO week (2026-W10)')
const Month = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be a month such as 2026-03')

const OverviewQuery = z.object({ affiliateId: ParamId.optional(), period: Period.optional() }).strict()
const EarningsQuery = z.object({ affiliateId: ParamId.optional() }).strict()
const PlayersQuery = z.object({ affiliateId: ParamId.optional(), month: Month.optional() }).strict()

const amount = (s: string) => canonicalAmount(s)
const currentMonth = () => new Date().toISOString().slice(0, 7)

export const commissionRoutes: ApiPlugin = (app, d) => {
  app.get(
    '/api/commission/overview',
    {
      config: { who: OPERATOR_OR_AFFILIATE },
      schema: { summary: 'Commission accrued, payable, pending and held, by affiliate, deal (and its brand), period and currency', querystring: OverviewQuery },
    },
    async (req) => {
      const affiliateId = scopeAffiliate(req.principal, req.query.affiliateId)
      const rows = await queryRows<{ a: string; deal: string; period: string; currency: string; accrued: string; payable: string; pending: string; held: string; lines: string }>(
        d.ch,
        `SELECT toString(t.affiliate_id) AS a, t.deal_id AS deal, t.period AS period, t.currency AS currency,
                toString(sum(t.amount)) AS accrued,
                toString(sumIf(t.amount, t.now_status = 'payable')) AS payable,
                toString(sumIf(t.amount, t.now_status = 'pending')) AS pending,
                toString(sumIf(t.amount, t.now_status = 'held')) AS held,
                toString(count()) AS lines
         FROM ${linesNow(affiliateId === undefined ? undefined : '{a:UInt32}')}
         WHERE ${req.query.period ? 't.period = {p:String}' : '1'}
         GROUP BY a, deal, period, currency
         ORDER BY period DESC, a, deal, currency
         LIMIT 5000`,
        { a: affiliateId ?? 0, p: req.query.period ?? '' },
      )
      const items: CommissionOverviewRow[] = rows.map((r) => {
        const deal = dealOf(d, r.deal)
        const brand = deal?.brandId !== undefined ? d.store.brands.get(deal.brandId) : undefined
        return {
          affiliateId: Number(r.a),
          affiliate: d.store.affiliates.get(Number(r.a))?.name ?? `#${r.a}`,
          dealId: r.deal,
          deal: deal?.name ?? r.deal,
          brandId: deal?.brandId ?? null,
          brand: brand?.name ?? null,
          period: r.period,
          currency: r.currency,
          accrued: amount(r.accrued),
          payable: amount(r.payable),
          pending: amount(r.pending),
          held: amount(r.held),
          lines: Number(r.lines),
        }
      })
      return { items }
    },
  )

  app.get(
    '/api/commission/earnings',
    {
      config: { who: OPERATOR_OR_AFFILIATE },
      schema: { summary: "An affiliate's earnings: today, this month, and the running RevShare balance of each deal with what it carries", querystring: EarningsQuery },
    },
    async (req) => {
      const affiliateId = scopeAffiliate(req.principal, req.query.affiliateId)
      if (affiliateId === undefined) throw new HttpError(400, 'invalid_request', 'say whose earnings: affiliateId', { affiliateId: 'required for an operator' })
      const now = new Date()
      const today = now.toISOString().slice(0, 10)
      const rows = await queryRows<{ currency: string; today: string; month: string; pending: string; held: string }>(
        d.ch,
        `SELECT t.currency AS currency,
                toString(sumIf(t.amount, toDate(t.occurred_at) = toDate({today:String}))) AS today,
                toString(sumIf(t.amount, toStartOfMonth(t.occurred_at) = toStartOfMonth(toDate({today:String})))) AS month,
                toString(sumIf(t.amount, t.now_status = 'pending')) AS pending,
                toString(sumIf(t.amount, t.now_status = 'held')) AS held
         FROM ${linesNow('{a:UInt32}')} GROUP BY currency ORDER BY currency`,
        { a: affiliateId, today },
      )
      const out: Earnings = {
        affiliateId,
        asOf: now.getTime(),
        byCurrency: rows.map((r) => ({ currency: r.currency, today: amount(r.today), thisMonth: amount(r.month), pending: amount(r.pending), held: amount(r.held) })),
        revshare: await revshareBalances(d, affiliateId),
      }
      return out
    },
  )

  app.get(
    '/api/commission/players',
    {
      config: { who: OPERATOR_OR_AFFILIATE },
      schema: { summary: "Per player (pseudonymised) in a month: deposits, GGR, NGR and the commission they earned, per currency", querystring: PlayersQuery },
    },
    async (req) => {
      const affiliateId = scopeAffiliate(req.principal, req.query.affiliateId)
      if (affiliateId === undefined) throw new HttpError(400, 'invalid_request', 'say whose players: affiliateId', { affiliateId: 'required for an operator' })
      const month = req.query.month ?? currentMonth()
      const start = `${month}-01`
      const facts = await queryRows<{ player: string; currency: string; deposits: string; ggr: string; ngr: string; events: string }>(
        d.ch,
        `SELECT player_ref AS player, currency, toString(deposits) AS deposits, toString(${GGR_SQL}) AS ggr, toString(${NGR_SQL}) AS ngr, toString(events) AS events
         FROM (SELECT player_ref, currency, ${FACT_SUMS_SQL}, count() AS events FROM player_facts
               WHERE affiliate_id = {a:UInt32} AND day >= toDate({s:String}) AND day < addMonths(toDate({s:String}), 1)
               GROUP BY player_ref, currency)
         ORDER BY player, currency LIMIT 5000`,
        { a: affiliateId, s: start },
      )
      const earned = await queryRows<{ player: string; currency: string; commission: string; lines: string }>(
        d.ch,
        `SELECT t.player_ref AS player, t.currency AS currency, toString(sum(t.amount)) AS commission, toString(count()) AS lines
         FROM ledger_lines AS t FINAL
         WHERE t.affiliate_id = {a:UInt32} AND t.occurred_at >= toDateTime64({s:String}, 3, 'UTC') AND t.occurred_at < addMonths(toDateTime64({s:String}, 3, 'UTC'), 1) AND t.player_ref != ''
         GROUP BY player, currency LIMIT 10000`,
        { a: affiliateId, s: start },
      )
      const by = new Map<string, PlayerBreakdown>()
      const get = (p: string) => by.get(p) ?? (by.set(p, { player: p, money: [], commission: [], events: 0 }), by.get(p)!)
      for (const f of facts) {
        const p = get(f.player)
        p.money.push({ currency: f.currency, deposits: amount(f.deposits), ggr: amount(f.ggr), ngr: amount(f.ngr) })
        p.events += Number(f.events)
      }
      for (const e of earned) get(e.player).commission.push({ currency: e.currency, amount: amount(e.commission), lines: Number(e.lines) })
      return { affiliateId, month, items: [...by.values()].sort((a, b) => (a.player < b.player ? -1 : 1)) }
    },
  )
}

function dealOf(d: ApiDeps, id: string) {
  // `deal.<n>`: a composed deal; `cpa.<affiliate>`: a flat CPA of the first release
  for (const x of d.store.deals.view.map.values()) {
    const deal = asDeal(x)
    if (deal.id === id) return deal
  }
  return undefined
}

/** The affiliate stage's running RevShare balance per deal (its books), walked as it pays. */
async function revshareBalances(d: ApiDeps, affiliateId: number): Promise<RevshareBalance[]> {
  const kv: KV | undefined = d.books
  if (!kv) return []
  const e = await kv.get(`a.${affiliateId}`)
  if (!e || e.operation !== 'PUT') return []
  const core = JSON.parse(new TextDecoder().decode(e.value)) as { rs?: Record<string, Record<string, RsPeriod>> }
  const out: RevshareBalance[] = []
  for (const [dealId, periods] of Object.entries(core.rs ?? {})) {
    const deal = dealOf(d, dealId)
    if (!deal) continue
    // each period at the terms of the version it was paid at (a later version may have dropped RevShare)
    const withRs = deal.versions.filter((v) => v.terms.revshare)
    const latest = withRs.at(-1)?.terms
    if (!latest?.revshare) continue
    const termsOf = (v: number) => deal.versions.find((x) => x.version === v)?.terms.revshare ?? latest.revshare!
    out.push({
      dealId,
      deal: deal.name,
      currency: latest.currency,
      carryover: latest.revshare.carryover,
      periods: revshareWalk(periods, termsOf).map((s) => ({
        period: s.period,
        ngr: canonicalAmount(s.slot.base),
        carriedIn: s.carriedIn.toFixed(),
        net: s.net.toFixed(),
        pays: s.pays.toFixed(),
        adminFee: s.terms.adminFee,
      })),
    })
  }
  return out
}
