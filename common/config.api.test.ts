/** The query-api's block of the configuration: the /api rate limit. */
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from './config.js'

const env = (o: Record<string, string> = {}) => ({
  NATS_URL: 'nats://127.0.0.1:4222',
  CLICK_SECRET: 'click-secret-0123456789',
  PSEUDONYM_SECRET: 'pseudonym-secret-0123456789',
  TOKEN_SECRET: 'token-secret-0123456789',
  OPERATOR_API_KEY: 'operator-key-0123456789',
  ...o,
})

describe('API_RATE_LIMIT_*', () => {
  it.each<[Record<string, string>, { max: number; windowMs: number } | undefined]>([
    [{}, { max: 3000, windowMs: 60_000 }],
    [
      { API_RATE_LIMIT_MAX: '50', API_RATE_LIMIT_WINDOW_S: '10' },
      { max: 50, windowMs: 10_000 },
    ],
    [{ API_RATE_LIMIT_MAX: '0' }, undefined],
  ])('%j → %j', (given, want) => {
    expect(loadConfig(env(given)).api.rateLimit).toEqual(want)
  })

  it.each<Record<string, string>>([{ API_RATE_LIMIT_MAX: '-1' }, { API_RATE_LIMIT_MAX: 'lots' }, { API_RATE_LIMIT_WINDOW_S: '0' }])(
    '%j is refused, naming the variable',
    (given) => {
      expect(() => loadConfig(env(given))).toThrow(ConfigError)
      expect(() => loadConfig(env(given))).toThrow(Object.keys(given)[0]!)
    },
  )
})
