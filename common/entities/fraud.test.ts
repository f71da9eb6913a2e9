/**
 * The fraud rules' settings: a change names only what it changes; an affiliate's own settings
 * apply to its events from their time on, merged over the program's then (rules in shadow mode
 * rule by rule); before them, or for another affiliate, the program's.
 */
import { describe, expect, it } from 'vitest'
import {
  DEFAULT_FRAUD_SETTINGS as D,
  FraudSettingsPatchSchema,
  FraudSettingsSchema,
  fraudSettingsFor,
  ruleSettings,
  type FraudRuleSettings,
  type StoredFraudSettings,
} from './fraud.js'

const T = Date.UTC(2026, 10, 1)
const H = 3_600_000

describe('the settings a change names', () => {
  it('a change parses to only what it names (no defaults filled in)', () => {
    expect(FraudSettingsPatchSchema.parse({ ctitMinSeconds: 5 })).toEqual({ ctitMinSeconds: 5 })
    expect(FraudSettingsPatchSchema.parse({})).toEqual({})
  })

  it.each([
    [{ clicksPerIpPerMinute: -1 }, 'clicksPerIpPerMinute'],
    [{ clicksPerIpPerMinute: 1.5 }, 'clicksPerIpPerMinute'],
    [{ lateShareMax: 0 }, 'lateShareMax'],
    [{ lateShareMax: 1.2 }, 'lateShareMax'],
    [{ ctitMinSeconds: 3601 }, 'ctitMinSeconds'],
    [{ shadow: { no_such_rule: true } }, 'shadow'],
    [{ somethingElse: 1 }, ''],
  ])('%j is refused (%s)', (body, field) => {
    const r = FraudSettingsPatchSchema.safeParse(body)
    expect(r.success).toBe(false)
    expect(r.error!.issues[0]!.path.join('.')).toContain(field)
  })

  it('the whole settings are DOMAIN’s defaults where unnamed', () => {
    expect(FraudSettingsSchema.parse({ anomalyZ: 4 })).toEqual({ ...D, anomalyZ: 4 })
    expect(D).toMatchObject({ clicksPerIpPerMinute: 30, clicksPerDevicePerMinute: 10, ctitMinSeconds: 15, registrationsPerKeyPerDay: 5, shadow: {} })
  })
})

describe("an affiliate's own settings", () => {
  const stored: StoredFraudSettings = {
    id: 1,
    versions: [{ from: T + 2 * H, settings: { ...D, clicksPerIpPerMinute: 50, shadow: { geo_mismatch: true } } }],
    affiliates: {
      '7': [
        { from: T + H, overrides: { clicksPerDevicePerMinute: 40, shadow: { hosting_ip: true, geo_mismatch: false } } },
        { from: T + 3 * H, overrides: {} },
      ],
    },
  }
  const s: FraudRuleSettings = ruleSettings(stored, { ...D, ctitMinSeconds: 0 })

  it.each([
    ['another affiliate, before any change: the configured base', 8, T, { ctitMinSeconds: 0, clicksPerIpPerMinute: 30, clicksPerDevicePerMinute: 10, shadow: {} }],
    ['another affiliate, after the program changed', 8, T + 2 * H, { clicksPerIpPerMinute: 50, clicksPerDevicePerMinute: 10, shadow: { geo_mismatch: true } }],
    ['the affiliate, before its own settings', 7, T + H - 1, { clicksPerDevicePerMinute: 10, shadow: {} }],
    ['the affiliate, its own over the base', 7, T + H, { ctitMinSeconds: 0, clicksPerDevicePerMinute: 40, shadow: { hosting_ip: true, geo_mismatch: false } }],
    [
      'the affiliate, its own over the changed program (shadow merged rule by rule)',
      7,
      T + 2 * H,
      { clicksPerIpPerMinute: 50, clicksPerDevicePerMinute: 40, shadow: { hosting_ip: true, geo_mismatch: false } },
    ],
    ['the affiliate, its own removed: the program’s', 7, T + 3 * H, { clicksPerIpPerMinute: 50, clicksPerDevicePerMinute: 10, shadow: { geo_mismatch: true } }],
  ])('%s', (_, aff, at, want) => expect(fraudSettingsFor(s, aff, at)).toMatchObject(want))

  it('the same object for the same versions (a batch does not build one a click)', () => {
    expect(fraudSettingsFor(s, 7, T + H + 5)).toBe(fraudSettingsFor(s, 7, T + H + 9))
    expect(fraudSettingsFor(s, 8, T)).toBe(fraudSettingsFor(s, 9, T + 1))
  })

  it('no settings stored, none read: the defaults', () => {
    expect(fraudSettingsFor(undefined, 7, T)).toBe(D)
    expect(fraudSettingsFor(ruleSettings(undefined), 7, T)).toBe(D)
  })
})
