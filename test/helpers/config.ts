import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig, type Config } from '../../common/config.js'

export const TEST_SECRETS = {
  CLICK_SECRET: 'test-click-secret-0123456789',
  PSEUDONYM_SECRET: 'test-pseudonym-secret-012345',
  TOKEN_SECRET: 'test-token-secret-0123456789',
  OPERATOR_API_KEY: 'test-operator-key-0123456789',
}

/** Tests' registrations come moments after their clicks: the injection rule (CTIT) is off
 *  unless a test sets FRAUD_SETTINGS itself (the fraud tests do). */
export const TEST_FRAUD_SETTINGS = '{"ctitMinSeconds":0}'

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `amp-${prefix}-`))
}

export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({ DATA_DIR: tempDir('data'), LOG_LEVEL: 'silent', FRAUD_SETTINGS: TEST_FRAUD_SETTINGS, ...TEST_SECRETS, ...env })
}
