import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig, parseTiers, secretsFile, TIERS, type Tier } from './config.js'

const dirs: string[] = []
function tempDataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'config-test-'))
  dirs.push(d)
  return d
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const SECRETS = {
  CLICK_SECRET: 'click-secret-0123456789',
  PSEUDONYM_SECRET: 'pseudonym-secret-0123456789',
  TOKEN_SECRET: 'token-secret-0123456789',
  OPERATOR_API_KEY: 'operator-key-0123456789',
}

/** Expect loadConfig to throw a ConfigError whose message names `name`. */
function expectConfigError(env: Record<string, string | undefined>, name: string) {
  let err: unknown
  try {
    loadConfig(env)
  } catch (e) {
    err = e
  }
  expect(err).toBeInstanceOf(ConfigError)
  expect((err as Error).message).toContain(name)
}

describe('loadConfig defaults', () => {
  it('needs nothing but a data dir: embedded mode with the documented defaults', () => {
    const dataDir = tempDataDir()
    const c = loadConfig({ DATA_DIR: dataDir })
    expect(c.port).toBe(8080)
    expect(c.host).toBe('0.0.0.0')
    expect(c.dataDir).toBe(resolve(dataDir))
    expect(c.logLevel).toBe('info')
    expect(c.embedded).toBe(true)
    expect(c.nats).toEqual({ url: undefined, serverBin: 'nats-server' })
    expect(c.clickhouse).toEqual({ url: undefined, user: 'default', password: '', database: 'default' })
    expect(c.stream).toEqual({ partitions: 16, dedupWindowS: 120, maxAgeDays: 0, postbackIdempotencyDays: 35 })
    expect(c.ingest).toEqual({
      clickAck: 'stored',
      clickAckTimeoutMs: 2000,
      maxBatchEvents: 1000,
      maxInflight: 4,
      cookie: { name: 'aff_click', domain: undefined, maxAgeDays: 30 },
      postbackRate: { perAddress: 6000, perSource: 30000, windowMs: 60_000 },
      clickFlood: { limit: 60, windowMs: 60_000 },
    })
    expect(c.trustProxy).toBe(false)
    expect(c.processor).toEqual({
      threads: 2,
      batchMessages: 4000,
      batchBytes: 8388608,
      batchWaitMs: 100,
      ackWaitS: 60,
      attributionWindowDays: 30,
      ipStorage: 'pseudonymise',
      // every fraud rule on, at DOMAIN's defaults (a registration within 15 s of its click is injected)
      fraudRules: true,
      fraudSettings: expect.objectContaining({
        ctitMinSeconds: 15,
        clicksPerIpPerMinute: 30,
        clicksPerDevicePerMinute: 10,
        registrationsPerKeyPerDay: 5,
        lateShareMax: 0.3,
        anomalyZ: 3,
        shadow: {},
      }),
    })
    expect(c.outbound).toEqual({ maxAttempts: 6, retryBaseMs: 1000, timeoutMs: 5000, allowPrivate: false })
  })

  it.each<[Record<string, string>, unknown]>([
    [{ CLICK_COOKIE_NAME: 'off' }, undefined],
    [
      { CLICK_COOKIE_NAME: 'clk', CLICK_COOKIE_DOMAIN: 'brand.example', CLICK_COOKIE_DAYS: '7' },
      { name: 'clk', domain: 'brand.example', maxAgeDays: 7 },
    ],
    [{ ATTRIBUTION_WINDOW_DAYS: '45' }, { name: 'aff_click', domain: undefined, maxAgeDays: 45 }],
  ])('click cookie from %o', (env, cookie) => {
    expect(loadConfig({ DATA_DIR: tempDataDir(), ...env }).ingest.cookie).toEqual(cookie)
  })

  it.each<[string, unknown]>([
    ['false', false],
    ['true', true],
    ['10.0.0.1', '10.0.0.1'],
    ['10.0.0.0/8, ::1', '10.0.0.0/8, ::1'],
    ['1', 1],
    ['2', 2],
  ])('TRUST_PROXY=%s', (v, want) => {
    expect(loadConfig({ DATA_DIR: tempDataDir(), TRUST_PROXY: v }).trustProxy).toEqual(want)
  })

  it.each([
    ['TRUST_PROXY', 'sometimes'],
    ['TRUST_PROXY', 'abc'],
    ['TRUST_PROXY', '10.0.0.1,not-an-ip'],
    ['TRUST_PROXY', '0'],
    ['CLICK_COOKIE_NAME', 'a b'],
    ['CLICK_COOKIE_DOMAIN', 'not a domain'],
  ])('rejects %s=%s', (k, v) => {
    expect(() => loadConfig({ DATA_DIR: tempDataDir(), [k]: v })).toThrow(k)
  })

  it('parses and coerces every kind of value from strings', () => {
    const dataDir = tempDataDir()
    const c = loadConfig({
      DATA_DIR: dataDir,
      PORT: '9090',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'debug',
      PARTITIONS: '4',
      CLICK_ACK: 'buffered',
      STREAM_MAX_AGE_DAYS: '0',
      ATTRIBUTION_WINDOW_DAYS: '7',
      CLICKHOUSE_URL: 'http://ch:8123',
      CLICKHOUSE_DATABASE: 'aff_db',
    })
    expect(c.port).toBe(9090)
    expect(c.host).toBe('127.0.0.1')
    expect(c.logLevel).toBe('debug')
    expect(c.stream.partitions).toBe(4)
    expect(c.ingest.clickAck).toBe('buffered')
    expect(c.processor.attributionWindowDays).toBe(7)
    expect(c.clickhouse.url).toBe('http://ch:8123')
    expect(c.clickhouse.database).toBe('aff_db')
    expect(c.embedded).toBe(true) // embedded is about NATS_URL only
  })

  it('ignores unknown variables (a real environment is full of them)', () => {
    const c = loadConfig({ DATA_DIR: tempDataDir(), PATH: '/usr/bin', HOME: '/root', SOMETHING_ELSE: 'x' })
    expect(c.port).toBe(8080)
  })
})

describe('loadConfig secrets', () => {
  it('generates embedded secrets once, persists them (mode 0600) and reuses them on the next load', () => {
    const dataDir = tempDataDir()
    const file = secretsFile(dataDir)
    expect(file).toBe(join(resolve(dataDir), 'secrets.json'))
    expect(existsSync(file)).toBe(false)

    const a = loadConfig({ DATA_DIR: dataDir })
    expect(existsSync(file)).toBe(true)
    for (const v of Object.values(a.secrets)) expect(v.length).toBeGreaterThanOrEqual(16)
    const values = Object.values(a.secrets)
    expect(new Set(values).size).toBe(4) // four independent secrets
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(a.secrets)
    if (process.platform !== 'win32') expect(statSync(file).mode & 0o777).toBe(0o600)

    const before = readFileSync(file, 'utf8')
    const b = loadConfig({ DATA_DIR: dataDir })
    expect(b.secrets).toEqual(a.secrets)
    expect(readFileSync(file, 'utf8')).toBe(before) // not rewritten
  })

  it('a fresh data dir gets different secrets', () => {
    const a = loadConfig({ DATA_DIR: tempDataDir() })
    const b = loadConfig({ DATA_DIR: tempDataDir() })
    expect(a.secrets.clickSecret).not.toBe(b.secrets.clickSecret)
  })

  it('creates the data dir when it does not exist yet', () => {
    const dataDir = join(tempDataDir(), 'nested', 'data')
    loadConfig({ DATA_DIR: dataDir })
    expect(existsSync(secretsFile(dataDir))).toBe(true)
  })

  it('uses secrets from the environment over stored ones', () => {
    const dataDir = tempDataDir()
    const a = loadConfig({ DATA_DIR: dataDir })
    const b = loadConfig({ DATA_DIR: dataDir, CLICK_SECRET: SECRETS.CLICK_SECRET })
    expect(b.secrets.clickSecret).toBe(SECRETS.CLICK_SECRET)
    expect(b.secrets.tokenSecret).toBe(a.secrets.tokenSecret)
  })

  it('with every secret given, writes no secrets file', () => {
    const dataDir = tempDataDir()
    const c = loadConfig({ DATA_DIR: dataDir, ...SECRETS })
    expect(c.secrets).toEqual({
      clickSecret: SECRETS.CLICK_SECRET,
      pseudonymSecret: SECRETS.PSEUDONYM_SECRET,
      tokenSecret: SECRETS.TOKEN_SECRET,
      operatorApiKey: SECRETS.OPERATOR_API_KEY,
    })
    expect(existsSync(secretsFile(dataDir))).toBe(false)
  })

  it('distributed mode (NATS_URL) with all secrets loads and is not embedded', () => {
    const c = loadConfig({ DATA_DIR: tempDataDir(), NATS_URL: 'nats://nats:4222', ...SECRETS })
    expect(c.embedded).toBe(false)
    expect(c.nats.url).toBe('nats://nats:4222')
    expect(c.secrets.operatorApiKey).toBe(SECRETS.OPERATOR_API_KEY)
  })

  it.each<[string, Record<string, string>, string]>([
    ['no secrets at all', {}, 'CLICK_SECRET'],
    ['only CLICK_SECRET', { CLICK_SECRET: SECRETS.CLICK_SECRET }, 'PSEUDONYM_SECRET'],
    ['no TOKEN_SECRET', { CLICK_SECRET: SECRETS.CLICK_SECRET, PSEUDONYM_SECRET: SECRETS.PSEUDONYM_SECRET }, 'TOKEN_SECRET'],
    [
      'no OPERATOR_API_KEY',
      { CLICK_SECRET: SECRETS.CLICK_SECRET, PSEUDONYM_SECRET: SECRETS.PSEUDONYM_SECRET, TOKEN_SECRET: SECRETS.TOKEN_SECRET },
      'OPERATOR_API_KEY',
    ],
  ])('distributed mode requires secrets: %s → names %s', (_name, given, missing) => {
    const dataDir = tempDataDir()
    expectConfigError({ DATA_DIR: dataDir, NATS_URL: 'nats://nats:4222', ...given }, missing)
    expect(existsSync(secretsFile(dataDir))).toBe(false) // nothing generated in distributed mode
  })

  it.each(['CLICK_SECRET', 'PSEUDONYM_SECRET', 'TOKEN_SECRET', 'OPERATOR_API_KEY'])('rejects a short %s (< 16 chars)', (name) => {
    expectConfigError({ DATA_DIR: tempDataDir(), ...SECRETS, [name]: 'short-secret-15' }, name)
  })

  it('accepts a secret of exactly 16 characters', () => {
    const c = loadConfig({ DATA_DIR: tempDataDir(), ...SECRETS, CLICK_SECRET: '0123456789abcdef' })
    expect(c.secrets.clickSecret).toBe('0123456789abcdef')
  })

  it('reuses a secrets file written by an earlier embedded run even when NATS_URL is set', () => {
    const dataDir = tempDataDir()
    const a = loadConfig({ DATA_DIR: dataDir })
    const b = loadConfig({ DATA_DIR: dataDir, NATS_URL: 'nats://nats:4222' })
    expect(b.secrets).toEqual(a.secrets)
  })

  it('fills a partial secrets file and keeps what it had', () => {
    const dataDir = tempDataDir()
    writeFileSync(secretsFile(dataDir), JSON.stringify({ clickSecret: SECRETS.CLICK_SECRET }))
    const c = loadConfig({ DATA_DIR: dataDir })
    expect(c.secrets.clickSecret).toBe(SECRETS.CLICK_SECRET)
    expect(JSON.parse(readFileSync(secretsFile(dataDir), 'utf8'))).toEqual(c.secrets)
  })
})

describe('loadConfig invalid values', () => {
  it.each<[string, string, string]>([
    ['PORT', 'abc', 'PORT'],
    ['PORT', '70000', 'PORT'],
    ['PORT', '-1', 'PORT'],
    ['PORT', '80.5', 'PORT'],
    ['PARTITIONS', '0', 'PARTITIONS'],
    ['PARTITIONS', '1025', 'PARTITIONS'],
    ['CLICK_ACK', 'foo', 'CLICK_ACK'],
    ['LOG_LEVEL', 'verbose', 'LOG_LEVEL'],
    ['CLICKHOUSE_URL', 'not-a-url', 'CLICKHOUSE_URL'],
    ['CLICKHOUSE_DATABASE', 'drop table;', 'CLICKHOUSE_DATABASE'],
    ['CLICKHOUSE_DATABASE', '1db', 'CLICKHOUSE_DATABASE'],
    ['DEDUP_WINDOW_S', '0', 'DEDUP_WINDOW_S'],
    ['PROCESSOR_THREADS', '-2', 'PROCESSOR_THREADS'],
    ['PROCESSOR_BATCH_MESSAGES', 'lots', 'PROCESSOR_BATCH_MESSAGES'],
    ['ATTRIBUTION_WINDOW_DAYS', '1.5', 'ATTRIBUTION_WINDOW_DAYS'],
    ['STREAM_MAX_AGE_DAYS', '-1', 'STREAM_MAX_AGE_DAYS'],
  ])('%s=%s throws a ConfigError naming %s', (name, value, want) => {
    const dataDir = tempDataDir()
    expectConfigError({ DATA_DIR: dataDir, [name]: value }, want)
    expect(existsSync(secretsFile(dataDir))).toBe(false) // validation fails before any secret is written
  })

  it('names every invalid variable at once', () => {
    let msg = ''
    try {
      loadConfig({ DATA_DIR: tempDataDir(), PORT: 'abc', PARTITIONS: '0', CLICK_ACK: 'foo' })
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError)
      msg = (e as Error).message
    }
    expect(msg).toContain('PORT')
    expect(msg).toContain('PARTITIONS')
    expect(msg).toContain('CLICK_ACK')
  })

  it.each<[string, string, number]>([
    ['PORT', '0', 0],
    ['PORT', '65535', 65535],
    ['PARTITIONS', '1', 1],
    ['PARTITIONS', '1024', 1024],
  ])('accepts the boundary %s=%s', (name, value, want) => {
    const c = loadConfig({ DATA_DIR: tempDataDir(), [name]: value })
    expect(name === 'PORT' ? c.port : c.stream.partitions).toBe(want)
  })
})

describe('parseTiers', () => {
  it.each<[string, string[], Tier[]]>([
    ['no flag', [], ['ingest', 'processor', 'query-api']],
    ['other flags only', ['--demo', '--verbose'], ['ingest', 'processor', 'query-api']],
    ['--tier all', ['--tier', 'all'], ['ingest', 'processor', 'query-api']],
    ['--tier=all', ['--tier=all'], ['ingest', 'processor', 'query-api']],
    ['--tier ingest,processor', ['--tier', 'ingest,processor'], ['ingest', 'processor']],
    ['--tier=query-api', ['--tier=query-api'], ['query-api']],
    ['--tier processor', ['--demo', '--tier', 'processor'], ['processor']],
    ['spaces around names', ['--tier', 'ingest, query-api'], ['ingest', 'query-api']],
  ])('%s', (_name, argv, want) => {
    expect(parseTiers(argv)).toEqual(want)
  })

  it('the default is every tier, in order, as a fresh array', () => {
    const a = parseTiers([])
    expect(a).toEqual([...TIERS])
    a.pop()
    expect(parseTiers([])).toHaveLength(3)
  })

  it.each<[string, string[], RegExp]>([
    ['unknown tier', ['--tier', 'web'], /unknown tier 'web'/],
    ['unknown tier in a list', ['--tier=ingest,worker'], /unknown tier 'worker'/],
    ['wrong case', ['--tier', 'Ingest'], /unknown tier 'Ingest'/],
    ['empty element', ['--tier', 'ingest,,processor'], /unknown tier ''/],
    ['all inside a list', ['--tier', 'all,ingest'], /unknown tier 'all'/],
    ['missing value at the end', ['--tier'], /needs a value/],
    ['empty value with =', ['--tier='], /needs a value/],
    ['another flag as the value', ['--tier', '--demo'], /unknown tier '--demo'/],
  ])('%s → ConfigError', (_name, argv, msg) => {
    expect(() => parseTiers(argv)).toThrow(ConfigError)
    expect(() => parseTiers(argv)).toThrow(msg)
  })
})
