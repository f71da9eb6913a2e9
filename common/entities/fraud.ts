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

export const FraudSettingsSchema = z.object({
  /** clicks from one address (IPv6: its /64) in a calendar minute; more are filtered (0: off) */
  clicksPerIpPerMinute: z.number().int().min(0).max(100_000).default(30),
  /** clicks from one device (address and user agent) in a calendar minute (0: off) */
  clicksPerDevicePerMinute: z.number().int().min(0).max(100_000).default(10),
  /** a registration or first deposit this soon after its click is injected: its attribution is rejected (seconds; 0: off) */
  ctitMinSeconds: num(z.number().min(0).max(3600)).default(15),
  /** share of an affiliate's conversions later than `lateAfterHours` after their click: over it flags, over halfway to 100% holds */
  lateShareMax: num(z.number().gt(0).max(1)).default(0.3),
  lateAfterHours: z
    .number()
    .int()
    .min(1)
    .max(24 * 90)
    .default(24),
  /** below this many conversions (in the last 30 days) the share says nothing */
  lateMinConversions: z.number().int().min(1).max(1_000_000).default(20),
  /** registrations per IP or device in a day; more hold the CPA (0: off) */
  registrationsPerKeyPerDay: z.number().int().min(0).max(100_000).default(5),
  /** conversion-rate anomaly: a z-score above this against the affiliate's own baseline flags */
  anomalyZ: num(z.number().gt(0).max(100)).default(3),
  /** bonus abuse: a withdrawal within this many days of the first deposit, with bonuses and wagering under `bonusAbuseWagerRatio` × deposits, holds the CPA */
  bonusAbuseDays: z.number().int().min(0).max(365).default(30),
  bonusAbuseWagerRatio: num(z.number().min(0).max(1000)).default(1),
  /** the rules that are found and shown, and act on nothing */
  shadow: z.partialRecord(z.enum(FRAUD_REASONS), z.boolean()).default({}),
})
export type FraudSettings = z.infer<typeof FraudSettingsSchema>
export const DEFAULT_FRAUD_SETTINGS: FraudSettings = FraudSettingsSchema.parse({})

export const FraudSettingsVersionSchema = z.object({ from: z.number().int(), settings: FraudSettingsSchema, by: z.string().optional() })
export type FraudSettingsVersion = z.infer<typeof FraudSettingsVersionSchema>

export const StoredFraudSettingsSchema = z.object({ id: z.literal(1), versions: z.array(FraudSettingsVersionSchema) })
export type StoredFraudSettings = z.infer<typeof StoredFraudSettingsSchema>

/** The settings in force at `at`: before the first change, `base` (the configured ones, FRAUD_SETTINGS, else DOMAIN's defaults). */
export function fraudSettingsAt(
  versions: readonly FraudSettingsVersion[] | undefined,
  at: number,
  base: FraudSettings = DEFAULT_FRAUD_SETTINGS,
): FraudSettings {
  if (!versions?.length || versions[0]!.from > at) return base
  return historyAt(versions, at)!.settings
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

  /** Change the settings from now on: a new version (never before the last one). */
  async set(input: z.input<typeof FraudSettingsSchema>, now: number, by: Actor = 'system'): Promise<FraudSettings> {
    const settings = FraudSettingsSchema.parse(input)
    const version = (before: FraudSettingsVersion[]): FraudSettingsVersion => ({ from: Math.max(now, before.at(-1)?.from ?? now), settings, by })
    const cur = await this.bucket.read(KEY)
    const stored = cur
      ? await this.bucket.update(KEY, 'no fraud settings', (c) => ({ id: 1, versions: [...c.versions, version(c.versions)] }), by, now)
      : await this.bucket.create(KEY, { id: 1, versions: [version([])] }, by, now)
    return stored.versions.at(-1)!.settings
  }
}
