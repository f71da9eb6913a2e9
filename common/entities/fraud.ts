/**
 * The fraud rules' settings for the program (docs/fraud.md): thresholds, and the rules in
 * shadow mode (scored and shown, acting on nothing). Defaults are DOMAIN's published ones.
 * Every change is a new version in force from the time it was made, never earlier: the
 * processor chooses the version by an event's time, so a replay decides as the live run did.
 */
import { z } from 'zod'
import { historyAt } from '../history.js'
import { JsonNumber } from '../json.js'
import { FRAUD_REASONS } from '../vocabulary.js'
import { type Actor, Repository } from './kv.js'

/** A threshold: a request body's fraction arrives as the exact text it was sent as (common/json.ts);
 *  a threshold is no amount of money, so it is taken as a number. */
const num = (t: z.ZodNumber) => z.preprocess((v) => (v instanceof JsonNumber ? Number(v.text) : v), t)

/** Each setting, without its default: a change to the program's settings, and an affiliate's
 *  own, name only what they change. */
const FIELDS = {
  /** clicks from one address (IPv6: its /64) in a calendar minute; more are filtered (0: off) */
  clicksPerIpPerMinute: z.number().int().min(0).max(100_000),
  /** clicks from one device (address and user agent) in a calendar minute (0: off) */
  clicksPerDevicePerMinute: z.number().int().min(0).max(100_000),
  /** a registration or first deposit this soon after its click is injected: its attribution is rejected (seconds; 0: off) */
  ctitMinSeconds: num(z.number().min(0).max(3600)),
  /** share of an affiliate's conversions later than `lateAfterHours` after their click: over it flags, over halfway to 100% holds */
  lateShareMax: num(z.number().gt(0).max(1)),
  lateAfterHours: z
    .number()
    .int()
    .min(1)
    .max(24 * 90),
  /** below this many conversions (in the last 30 days) the share says nothing */
  lateMinConversions: z.number().int().min(1).max(1_000_000),
  /** registrations per IP or device in a day; more hold the CPA (0: off) */
  registrationsPerKeyPerDay: z.number().int().min(0).max(100_000),
  /** conversion-rate anomaly: a z-score above this against the affiliate's own baseline flags */
  anomalyZ: num(z.number().gt(0).max(100)),
  /** bonus abuse: a withdrawal within this many days of the first deposit, with bonuses and wagering under `bonusAbuseWagerRatio` × deposits, holds the CPA */
  bonusAbuseDays: z.number().int().min(0).max(365),
  bonusAbuseWagerRatio: num(z.number().min(0).max(1000)),
  /** the rules that are found and shown, and act on nothing (a rule named false acts) */
  shadow: z.partialRecord(z.enum(FRAUD_REASONS), z.boolean()),
}
type Fields = typeof FIELDS

/** DOMAIN's published defaults. */
const DEFAULTS: { [K in keyof Fields]: z.output<Fields[K]> } = {
  clicksPerIpPerMinute: 30,
  clicksPerDevicePerMinute: 10,
  ctitMinSeconds: 15,
  lateShareMax: 0.3,
  lateAfterHours: 24,
  lateMinConversions: 20,
  registrationsPerKeyPerDay: 5,
  anomalyZ: 3,
  bonusAbuseDays: 30,
  bonusAbuseWagerRatio: 1,
  shadow: {},
}

export const FraudSettingsSchema = z.object(
  Object.fromEntries(Object.entries(FIELDS).map(([k, f]) => [k, (f as z.ZodType as z.ZodNumber).default(DEFAULTS[k as keyof Fields] as never)])) as unknown as {
    [K in keyof Fields]: z.ZodDefault<Fields[K]>
  },
)
export type FraudSettings = z.infer<typeof FraudSettingsSchema>
export const DEFAULT_FRAUD_SETTINGS: FraudSettings = FraudSettingsSchema.parse({})

/** Some settings, nothing filled in: a change, or an affiliate's own thresholds. */
export const FraudSettingsPatchSchema = z.object(FIELDS).partial().strict()
export type FraudSettingsPatch = z.infer<typeof FraudSettingsPatchSchema>

export const FraudSettingsVersionSchema = z.object({ from: z.number().int(), settings: FraudSettingsSchema, by: z.string().optional() })
export type FraudSettingsVersion = z.infer<typeof FraudSettingsVersionSchema>

/** One affiliate's own settings from `from` on: all it sets differently from the program (an
 *  empty set: none any more). */
export const FraudOverrideVersionSchema = z.object({ from: z.number().int(), overrides: FraudSettingsPatchSchema, by: z.string().optional() })
export type FraudOverrideVersion = z.infer<typeof FraudOverrideVersionSchema>

export const StoredFraudSettingsSchema = z.object({
  id: z.literal(1),
  versions: z.array(FraudSettingsVersionSchema),
  /** affiliate id → its own settings' versions, oldest first */
  affiliates: z.record(z.string(), z.array(FraudOverrideVersionSchema)).default({}),
})
export type StoredFraudSettings = z.infer<typeof StoredFraudSettingsSchema>

/** What the rules read to choose the settings of an event: the program's versions (the first
 *  in force from the start: the configured base) and the affiliates' own. */
export type FraudRuleSettings = { versions: FraudSettingsVersion[]; affiliates: Record<string, FraudOverrideVersion[]> }

/** What the rules read, from the stored settings and the configured base. */
export function ruleSettings(stored: StoredFraudSettings | undefined, base: FraudSettings = DEFAULT_FRAUD_SETTINGS): FraudRuleSettings {
  return { versions: [{ from: Number.MIN_SAFE_INTEGER, settings: base }, ...(stored?.versions ?? [])], affiliates: stored?.affiliates ?? {} }
}

/** The settings in force at `at`: before the first change, `base` (the configured ones, FRAUD_SETTINGS, else DOMAIN's defaults). */
export function fraudSettingsAt(
  versions: readonly FraudSettingsVersion[] | undefined,
  at: number,
  base: FraudSettings = DEFAULT_FRAUD_SETTINGS,
): FraudSettings {
  if (!versions?.length || versions[0]!.from > at) return base
  return historyAt(versions, at)!.settings
}

/**
 * The settings one affiliate's event at `at` is judged by: the program's then, with what the
 * affiliate's own settings then change (the rules in shadow mode merged rule by rule). The same
 * object for the same two versions, so a batch's clicks do not each build one.
 */
export function fraudSettingsFor(s: FraudRuleSettings | undefined, affiliateId: number, at: number): FraudSettings {
  const program = fraudSettingsAt(s?.versions, at)
  const own = s?.affiliates[String(affiliateId)]
  if (!own?.length || own[0]!.from > at) return program
  return merged(program, historyAt(own, at)!.overrides)
}

const mergedCache = new WeakMap<FraudSettings, WeakMap<FraudSettingsPatch, FraudSettings>>()
export function merged(program: FraudSettings, own: FraudSettingsPatch): FraudSettings {
  if (Object.keys(own).length === 0) return program
  let byOwn = mergedCache.get(program)
  if (!byOwn) mergedCache.set(program, (byOwn = new WeakMap()))
  let m = byOwn.get(own)
  if (!m) byOwn.set(own, (m = { ...program, ...own, shadow: { ...program.shadow, ...own.shadow } }))
  return m
}

const KEY = 'settings'

export class FraudSettingsRepository extends Repository<StoredFraudSettings> {
  /** Every version, oldest first (none: the defaults stand). */
  versions(): FraudSettingsVersion[] {
    return this.bucket.get(KEY)?.versions ?? []
  }

  current(now: number, base: FraudSettings = DEFAULT_FRAUD_SETTINGS): FraudSettings {
    return fraudSettingsAt(this.versions(), now, base)
  }

  /** Every affiliate's own settings' versions. */
  affiliates(): Record<string, FraudOverrideVersion[]> {
    return this.bucket.get(KEY)?.affiliates ?? {}
  }

  /** What the rules read (the processor's and the API's view alike). */
  rules(base: FraudSettings = DEFAULT_FRAUD_SETTINGS): FraudRuleSettings {
    return ruleSettings(this.bucket.get(KEY), base)
  }

  /** One affiliate's settings in force at `now`. */
  forAffiliate(affiliateId: number, now: number, base: FraudSettings = DEFAULT_FRAUD_SETTINGS): FraudSettings {
    return fraudSettingsFor(this.rules(base), affiliateId, now)
  }

  /** Change the settings from now on: a new version (never before the last one). */
  async set(input: z.input<typeof FraudSettingsSchema>, now: number, by: Actor = 'system'): Promise<FraudSettings> {
    const settings = FraudSettingsSchema.parse(input)
    const version = (before: FraudSettingsVersion[]): FraudSettingsVersion => ({ from: Math.max(now, before.at(-1)?.from ?? now), settings, by })
    const cur = await this.bucket.read(KEY)
    const stored = cur
      ? await this.bucket.update(KEY, 'no fraud settings', (c) => ({ ...c, versions: [...c.versions, version(c.versions)] }), by, now)
      : await this.bucket.create(KEY, { id: 1, versions: [version([])], affiliates: {} }, by, now)
    return stored.versions.at(-1)!.settings
  }

  /** Set one affiliate's own settings from now on (all it sets differently; {}: none): a new
   *  version of them, never before their last one. */
  async setAffiliate(affiliateId: number, input: FraudSettingsPatch, now: number, by: Actor = 'system'): Promise<FraudOverrideVersion> {
    const overrides = FraudSettingsPatchSchema.parse(input)
    const key = String(affiliateId)
    const add = (c: StoredFraudSettings): StoredFraudSettings => {
      const before = c.affiliates[key] ?? []
      const version: FraudOverrideVersion = { from: Math.max(now, before.at(-1)?.from ?? now), overrides, by }
      return { ...c, affiliates: { ...c.affiliates, [key]: [...before, version] } }
    }
    const cur = await this.bucket.read(KEY)
    const stored = cur
      ? await this.bucket.update(KEY, 'no fraud settings', add, by, now)
      : await this.bucket.create(KEY, add({ id: 1, versions: [], affiliates: {} }), by, now)
    return stored.affiliates[key]!.at(-1)!
  }
}
