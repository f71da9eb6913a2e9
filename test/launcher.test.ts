import { describe, expect, it } from 'vitest'
import { launch } from '../launcher.js'
import { ConfigError } from '../common/config.js'
import { tempDir, TEST_SECRETS } from './helpers/config.js'

describe('launcher', () => {
  it.each([['processor'], ['query-api']])('refuses --tier %s alone without CLICKHOUSE_URL (chDB is per process)', async (tier) => {
    const env = { DATA_DIR: tempDir('l'), NATS_URL: 'nats://127.0.0.1:1', LOG_LEVEL: 'silent', ...TEST_SECRETS }
    await expect(launch(['--tier', tier], env)).rejects.toThrow(ConfigError)
    await expect(launch(['--tier', tier], env)).rejects.toThrow(/CLICKHOUSE_URL is required/)
  })
})
