/**
 * Deal terms: one versioned model that composes every way a program pays (docs/commission.md).
 * A version is write-once and applies to events that happened at or after its effectiveFrom.
 * Shared by the API (which stores versions), the processor's two stages and the simulator.
 *
 * Amounts are decimal strings in the deal's currency (the program currency); rates and
 * percentages are decimal fractions as strings ("0.30" is 30%), so nothing is a float.
 */
import { z } from 'zod'
import { AmountSchema, D, StoredCurrencySchema } from './money.js'

/** A fraction between 0 and 1 inclusive, as a decimal string: "0.3", "0.25". */
export const RateSchema = z
  .string()
  .regex(/^(0(\.\d{1,12})?|1(\.0{1,12})?)$/, 'must be a fraction between 0 and 1 written as a decimal string, e.g. "0.30" for 30%')
/** A non-negative amount. */
const Positive = AmountSchema.refine((s) => !s.startsWith('-'), 'must not be negative')

export const PERIOD_KINDS = ['month', 'week'] as const
export type PeriodKind = (typeof PERIOD_KINDS)[number]

/** Qualified CPA: every condition set must hold within the window (DOMAIN: qualified CPA). */
export const QualificationSchema = z
  .object({
    /** the first deposit (the FTD) at least this */
    minFirstDeposit: Positive.optional(),
    /** deposits in the window, the FTD included, at least this */
    minDeposits: Positive.optional(),
    /** bets (wagering) in the window at least this */
    minWagering: Positive.optional(),
    /** or wagering at least k × the deal's minimum first deposit */
    wageringMultiple: Positive.optional(),
    /** activity events with bets > 0 in the window */
    minBets: z.number().int().positive().optional(),
    /** distinct days with bets in the window */
    minActiveDays: z.number().int().positive().optional(),
    /** days after the start the conditions must be met in; a player who meets them later earns no CPA */
    windowDays: z.number().int().positive().optional(),
    /** where the window starts */
    windowFrom: z.enum(['registration', 'ftd']).default('registration'),
  })
  .strict()
export type Qualification = z.infer<typeof QualificationSchema>

export const CapsSchema = z
  .object({
    /** paid CPAs per UTC day */
    daily: z.number().int().positive().optional(),
    /** paid CPAs per period */
    monthly: z.number().int().positive().optional(),
  })
  .strict()

export const CpaTermsSchema = z
  .object({
    amount: Positive,
    qualification: QualificationSchema.optional(),
    /** days a CPA stays pending after it is earned (a refund, chargeback or status event in them reverses it) */
    holdDays: z.number().int().nonnegative().default(0),
    caps: CapsSchema.optional(),
    /** retroactive tiers: at the n-th paid CPA of the period, every CPA of the period is re-priced to the amount */
    retroTiers: z.array(z.object({ at: z.number().int().min(2), amount: Positive }).strict()).optional(),
    /** ladder tiers: the n-th paid CPA of the period and every one after it are paid the amount; those before keep theirs */
    ladderTiers: z.array(z.object({ at: z.number().int().min(2), amount: Positive }).strict()).optional(),
    /** the CPA is an advance against the same player's RevShare (hybrid deals): RevShare pays only above it */
    clawback: z.boolean().default(false),
  })
  .strict()
  .refine((c) => !(c.retroTiers?.length && c.ladderTiers?.length), {
    path: ['ladderTiers'],
    message: 'CPA tiers are retroactive (retroTiers) or a ladder (ladderTiers), not both',
  })
export type CpaTerms = z.infer<typeof CpaTermsSchema>

export const BandSchema = z.object({ from: Positive, rate: RateSchema }).strict()
export type Band = z.infer<typeof BandSchema>

/** NGR deductions a deal may leave out (DOMAIN: NGR = GGR − bonuses − adjustments, per deal). */
export const DEDUCTIONS = ['bonuses', 'adjustments', 'chargebacks', 'fees'] as const
export type Deduction = (typeof DEDUCTIONS)[number]

export const RevShareTermsSchema = z
  .object({
    /** bands by the period's NGR (after the admin fee), or by its count of qualified FTDs
     *  (`tierBy`); the first starts at 0. One band is a flat rate. */
    bands: z.array(BandSchema).min(1),
    /** what reaches a band: the period's NGR, or the players who qualified in it (the deal's CPA
     *  qualification; the first deposit when it has no CPA) */
    tierBy: z.enum(['ngr', 'qualified_ftds']).default('ngr'),
    /** tiered: the reached band's rate on everything; ladder: each band's rate inside it */
    mode: z.enum(['tiered', 'ladder']).default('tiered'),
    /** share of NGR kept by the operator before RevShare (0–0.35 in the wild) */
    adminFee: RateSchema.default('0'),
    /** which deductions NGR takes; default all */
    deductions: z.array(z.enum(DEDUCTIONS)).default([...DEDUCTIONS]),
    /** a negative period is carried into the next one */
    carryover: z.boolean().default(true),
    /** the high-roller clause: a player whose NGR in a period is at or below −threshold while the
     *  period's balance is negative has that negative carried against the player's own later
     *  revenue only, not the affiliate's; capped at the balance's negative, shared pro rata */
    highRoller: z.object({ threshold: Positive }).strict().optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.highRoller && !r.carryover)
      ctx.addIssue({ code: 'custom', path: ['highRoller'], message: 'a high-roller clause decides what a negative balance carries: it needs carryover' })
    if (r.tierBy === 'qualified_ftds') {
      if (r.mode === 'ladder')
        ctx.addIssue({
          code: 'custom',
          path: ['mode'],
          message: 'bands by qualified FTDs are tiered (the reached rate on all NGR): a count cannot be laddered across NGR',
        })
      r.bands.forEach((b, i) => {
        if (!/^\d+$/.test(b.from))
          ctx.addIssue({ code: 'custom', path: ['bands', i, 'from'], message: 'with tierBy qualified_ftds a band starts at a whole number of qualified FTDs' })
      })
    }
    // (a band whose start is not a number is already refused, with its own reason)
    if (!r.bands.every((b) => AmountSchema.safeParse(b.from).success)) return
    if (!new D(r.bands[0]!.from).isZero()) ctx.addIssue({ code: 'custom', path: ['bands', 0, 'from'], message: 'the first band starts at 0' })
    for (let i = 1; i < r.bands.length; i++)
      if (!new D(r.bands[i]!.from).gt(r.bands[i - 1]!.from))
        ctx.addIssue({ code: 'custom', path: ['bands', i, 'from'], message: 'bands must start at increasing volumes' })
  })
export type RevShareTerms = z.infer<typeof RevShareTermsSchema>

export const CplTermsSchema = z.object({ amount: Positive }).strict()

/** Forex IB: per lot by instrument group, or a share of the spread; overrides for the IBs above. */
export const IbTermsSchema = z
  .object({
    /** amount per lot, per instrument group; "*" for any other instrument */
    perLot: z.record(z.string().min(1), Positive).default({}),
    /** instrument → group (EURUSD → fx_majors); an instrument not listed is its own group */
    groups: z.record(z.string().min(1), z.string().min(1)).default({}),
    /** share of the spread the client paid */
    spreadShare: RateSchema.optional(),
    /** per lot paid to each IB above this one, nearest first (a master IB's override): [1.50];
     *  the array's length is the depth limit */
    overridesPerLot: z.array(Positive).max(8).default([]),
    /** per lot given back to the client (cashback), taken from the lowest tier first: this IB's
     *  rebate, then each override above it */
    clientRebatePerLot: Positive.default('0'),
  })
  .strict()
export type IbTerms = z.infer<typeof IbTermsSchema>

/** Prop trading: a share of challenge fees, and a CPA held through the refund window. */
export const PropTermsSchema = z
  .object({
    firstPurchase: RateSchema,
    /** resets and later purchases */
    reset: RateSchema,
    /** days a purchase may be refunded in: the hold of the lines it earns */
    refundWindowDays: z.number().int().nonnegative().default(7),
  })
  .strict()
export type PropTerms = z.infer<typeof PropTermsSchema>

export const SubAffiliateTermsSchema = z
  .object({
    /** share of the recruited affiliates' commission, per tier: [0.05] is 5% of the children's, [0.05, 0.02] also 2% of the grandchildren's */
    tiers: z.array(RateSchema).min(1).max(5),
  })
  .strict()

export const DealTermsSchema = z
  .object({
    /** the program currency the deal pays in */
    currency: StoredCurrencySchema,
    period: z.enum(PERIOD_KINDS).default('month'),
    cpa: CpaTermsSchema.optional(),
    cpl: CplTermsSchema.optional(),
    revshare: RevShareTermsSchema.optional(),
    ib: IbTermsSchema.optional(),
    prop: PropTermsSchema.optional(),
    /** what this affiliate earns on the commission of the affiliates it recruited: tiers[0] on
     *  its children's, tiers[1] on its grandchildren's, … (the length is the depth limit) */
    subAffiliate: SubAffiliateTermsSchema.optional(),
  })
  .strict()
  .refine(
    (t) => t.cpa || t.cpl || t.revshare || t.ib || t.prop || t.subAffiliate,
    'a deal pays by at least one model: cpa, cpl, revshare, ib, prop or subAffiliate',
  )
export type DealTerms = z.infer<typeof DealTermsSchema>
export type DealTermsInput = z.input<typeof DealTermsSchema>

export const DealVersionSchema = z.object({
  version: z.number().int().positive(),
  /** ms epoch: applies to events that happened at or after it */
  effectiveFrom: z.number().int(),
  createdAt: z.number().int(),
  terms: DealTermsSchema,
})
export type DealVersion = z.infer<typeof DealVersionSchema>

/** An affiliate group's name: what a deal for many affiliates is assigned to ("vip", "tier-2"). */
export const GroupNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, 'must be 1–40 lowercase letters, digits, - or _, starting with a letter or digit, e.g. "vip"')

/** A deal: who it is for (an affiliate, or a group of affiliates), optionally per brand and
 *  country, and its versions. */
export const DealSchema = z
  .object({
    id: z.string().min(1),
    name: z.string().min(1),
    affiliateId: z.number().int().positive().optional(),
    /** every affiliate in the group when the event happened (an affiliate's own deal comes first) */
    group: GroupNameSchema.optional(),
    brandId: z.number().int().positive().optional(),
    country: z
      .string()
      .regex(/^[A-Z]{2}$/)
      .optional(),
    versions: z.array(DealVersionSchema).min(1),
  })
  .refine((d) => (d.affiliateId === undefined) !== (d.group === undefined), {
    message: 'a deal is for one affiliate (affiliateId) or one group (group), not both',
    path: ['affiliateId'],
  })
export type Deal = z.infer<typeof DealSchema>

/** Whether a deal is for this affiliate: its own, or for the group it was in at the time. */
export function dealIsFor(d: Pick<Deal, 'affiliateId' | 'group'>, affiliateId: number, group: string | undefined): boolean {
  return d.affiliateId !== undefined ? d.affiliateId === affiliateId : group !== undefined && d.group === group
}

/** The version in force when the event happened: the latest with effectiveFrom ≤ at. */
export function dealVersionAt(deal: Pick<Deal, 'versions'>, at: number): DealVersion | undefined {
  let found: DealVersion | undefined
  for (const v of deal.versions) if (v.effectiveFrom <= at && (!found || v.effectiveFrom > found.effectiveFrom)) found = v
  return found
}

/**
 * The deal that applies to an affiliate's event: of the deals for the affiliate or for the group
 * it was in when the event happened (`group`), for the event's brand and country, with a version
 * in force at `at`: the most specific (its own before its group's; then brand and country, then
 * brand, then country, then neither; ties by id), with that version.
 */
export function dealFor(
  deals: Iterable<Deal>,
  q: { affiliateId: number; group?: string; brandId?: number; country?: string; at: number },
): { deal: Deal; version: DealVersion } | undefined {
  const out: { deal: Deal; version: DealVersion }[] = []
  for (const d of deals) {
    if (!dealIsFor(d, q.affiliateId, q.group)) continue
    if (d.brandId !== undefined && d.brandId !== q.brandId) continue
    if (d.country !== undefined && d.country !== q.country) continue
    const version = dealVersionAt(d, q.at)
    if (version) out.push({ deal: d, version })
  }
  // the most specific deal wins when several of the same affiliate match
  const rank = (d: Deal) => (d.affiliateId !== undefined ? 4 : 0) + (d.brandId !== undefined ? 2 : 0) + (d.country !== undefined ? 1 : 0)
  // by code point, never by locale: the same deal on every machine
  out.sort((a, b) => rank(b.deal) - rank(a.deal) || (a.deal.id < b.deal.id ? -1 : a.deal.id > b.deal.id ? 1 : 0))
  return out[0]
}

/** A flat CPA deal as the API has stored it since before the deal model (`cpa.<affiliate>`):
 *  the same thing as a deal whose versions pay only `cpa.amount` on the first deposit. */
export function fromCpaDeal(c: {
  affiliateId: number
  versions: { version: number; amount: string; currency: string; effectiveFrom: number; createdAt: number }[]
}): Deal {
  return {
    id: `cpa.${c.affiliateId}`,
    name: 'CPA',
    affiliateId: c.affiliateId,
    versions: c.versions.map((v) => ({
      version: v.version,
      effectiveFrom: v.effectiveFrom,
      createdAt: v.createdAt,
      terms: { currency: v.currency, period: 'month', cpa: { amount: v.amount, holdDays: 0, clawback: false } },
    })),
  }
}
