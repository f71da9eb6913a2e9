/**
 * Configuration, parsed once at boot from the environment with zod.
 * Nothing else in the code base reads process.env: tiers receive a typed Config.
 *
 * Embedded defaults need no variables at all: a nats-server child and chDB, both
 * under DATA_DIR. Setting NATS_URL / CLICKHOUSE_URL points a tier at external
 * servers (distributed mode) with no code change.
 */
import { FraudSettingsSchema, type FraudSettings } from './entities/fraud.js'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { resolve, join } from 'node:path'
import { z } from 'zod'
import { CidrSchema } from './ipallow.js'

export const TIERS = ['ingest', 'processor', 'query-api'] as const
export type Tier = (typeof TIERS)[number]

const secret = z.string().min(16, 'must be at least 16 characters')
const positiveInt = (d: number) => z.coerce.number().int().positive().default(d)

// The query-api's settings.
const API_ENV = {
  /** /api requests one client address may make per window (0: no limit); the rest get a 429 with Retry-After. */
  API_RATE_LIMIT_MAX: z.coerce.number().int().min(0).default(3000),
  API_RATE_LIMIT_WINDOW_S: positiveInt(60),
  /** The program's name, as statements and invoices show it. */
  PROGRAM_NAME: z.string().trim().min(1).max(200).default('Affiliate program'),
  /** Chromium, which renders invoices as PDF (Debian's package chromium). */
  CHROMIUM_PATH: z.string().default('/usr/bin/chromium'),
  /** The account bank payouts are paid from, for SEPA credit-transfer files (name default PROGRAM_NAME). */
  PAYER_NAME: z.string().trim().min(1).max(70).optional(),
  PAYER_IBAN: z.string().optional(),
  PAYER_BIC: z.string().optional(),
}
const apiConfig = (e: {
  API_RATE_LIMIT_MAX: number
  API_RATE_LIMIT_WINDOW_S: number
  PROGRAM_NAME: string
  CHROMIUM_PATH: string
  PAYER_NAME?: string
  PAYER_IBAN?: string
  PAYER_BIC?: string
}) => ({
  rateLimit: e.API_RATE_LIMIT_MAX > 0 ? { max: e.API_RATE_LIMIT_MAX, windowMs: e.API_RATE_LIMIT_WINDOW_S * 1000 } : undefined,
  programName: e.PROGRAM_NAME,
  chromium: e.CHROMIUM_PATH,
  payer: {
    name: e.PAYER_NAME ?? e.PROGRAM_NAME,
    ...(e.PAYER_IBAN ? { iban: e.PAYER_IBAN.replace(/\s+/g, '').toUpperCase() } : {}),
    ...(e.PAYER_BIC ? { bic: e.PAYER_BIC.trim().toUpperCase() } : {}),
  },
})

const EnvSchema = z.object({
  ...API_ENV,
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default('0.0.0.0'),
  DATA_DIR: z.string().default('./data'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** pretty: coloured lines for a person at a terminal; json: one object a line for a log
   *  pipeline; auto: pretty when standard output is a terminal, else json. */
  LOG_FORMAT: z.enum(['auto', 'pretty', 'json']).default('auto'),

  NATS_URL: z.string().optional(),
  NATS_SERVER_BIN: z.string().default('nats-server'),
  CLICKHOUSE_URL: z.string().url().optional(),
  CLICKHOUSE_USER: z.string().default('default'),
  CLICKHOUSE_PASSWORD: z.string().default(''),
  CLICKHOUSE_DATABASE: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
    .default('default'),

  /** Partitions of the event stream; fixed once the stream exists (changing it remaps keys). */
  PARTITIONS: z.coerce.number().int().min(1).max(1024).default(16),
  /** JetStream duplicate window for Nats-Msg-Id, seconds. Longer-lived postback idempotency lives in KV. */
  DEDUP_WINDOW_S: positiveInt(120),
  /** Postback idempotency records (event_id → first answer) are kept this long. */
  POSTBACK_IDEMPOTENCY_DAYS: positiveInt(35),
  /** Event stream retention; 0 keeps everything (the stream is the system of record). */
  STREAM_MAX_AGE_DAYS: z.coerce.number().int().min(0).default(0),

  /** 'stored': a click redirect waits for JetStream to store the click (group-committed).
   *  'buffered': redirect at once, the click is published within milliseconds. */
  CLICK_ACK: z.enum(['stored', 'buffered']).default('stored'),
  /** A stored-mode click waits at most this long for the store before redirecting anyway. */
  CLICK_ACK_TIMEOUT_MS: positiveInt(2000),
  /** The first-party click cookie set on every tracked redirect; 'off' for the cookieless path only. */
  CLICK_COOKIE_NAME: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ -')
    .default('aff_click'),
  /** Domain of the click cookie, e.g. brand.example when the tracker runs on track.brand.example; none: the tracker's host only. */
  CLICK_COOKIE_DOMAIN: z
    .string()
    .regex(/^\.?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, 'must be a domain such as brand.example')
    .optional(),
  /** The click cookie lives this long; default ATTRIBUTION_WINDOW_DAYS. */
  CLICK_COOKIE_DAYS: z.coerce.number().int().min(1).max(400).optional(),
  /** Which proxies' X-Forwarded-For to believe for the client address (geo rules, IP allow-lists):
   *  'false' (none, default), the proxies' addresses/CIDRs, or a hop count. 'true' believes the left-most
   *  address, which a client can write itself behind a proxy that appends to the header: avoid it. */
  TRUST_PROXY: z
    .string()
    .default('false')
    .transform((v, ctx): boolean | number | string => {
      if (v === 'false' || v === '') return false
      if (v === 'true') return true
      // a hop count: the address that many proxies from the right of X-Forwarded-For
      if (/^[1-9]\d?$/.test(v)) return Number(v)
      const bad = v.split(',').find((x) => !CidrSchema.safeParse(x.trim()).success)
      if (bad === undefined) return v
      ctx.addIssue({
        code: 'custom',
        message: `'${bad.trim()}' is not an address or CIDR; give 'true', 'false', a hop count or comma-separated addresses/CIDRs`,
      })
      return z.NEVER
    }),
  /** Ingest protection. Postbacks per client address and per (authenticated) source in each
   *  window before a 429 (0: no limit); generous so a real platform is never refused.
   *  Click flood guard: clicks per client address per window beyond which a click is still
   *  redirected but marked `flood` (0: off). Loopback addresses are never counted. */
  POSTBACK_RATE_PER_ADDRESS: z.coerce.number().int().min(0).default(6000),
  POSTBACK_RATE_PER_SOURCE: z.coerce.number().int().min(0).default(30000),
  POSTBACK_RATE_WINDOW_S: positiveInt(60),
  CLICK_FLOOD_LIMIT: z.coerce.number().int().min(0).default(60),
  CLICK_FLOOD_WINDOW_S: positiveInt(60),

  PUBLISH_MAX_BATCH_EVENTS: positiveInt(1000),
  PUBLISH_MAX_INFLIGHT: positiveInt(4),

  PROCESSOR_THREADS: positiveInt(2),
  PROCESSOR_BATCH_MESSAGES: positiveInt(4000),
  PROCESSOR_BATCH_BYTES: positiveInt(8 * 1024 * 1024),
  PROCESSOR_BATCH_WAIT_MS: positiveInt(100),
  PROCESSOR_ACK_WAIT_S: positiveInt(60),
  ATTRIBUTION_WINDOW_DAYS: positiveInt(30),
  /** How a click's IP is stored in ClickHouse: a keyed pseudonym, truncated (/24, /48), or in full. */
  IP_STORAGE: z.enum(['pseudonymise', 'truncate', 'full']).default('pseudonymise'),
  /** The fraud rules: on (default), or off (the benchmark's comparison; bots are still filtered). */
  FRAUD_RULES: z.enum(['on', 'off']).default('on'),
  /** The fraud rules' settings before any change made in the dashboard (JSON, any subset of the
   *  fields of docs/fraud.md; the rest DOMAIN's defaults), e.g. {"ctitMinSeconds":10}. */
  FRAUD_SETTINGS: z
    .string()
    .default('{}')
    .transform((s, ctx) => {
      try {
        return FraudSettingsSchema.parse(JSON.parse(s))
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `must be a JSON object of fraud settings: ${err instanceof Error ? err.message.slice(0, 300) : String(err)}` })
        return z.NEVER
      }
    }),

  /** Outbound postbacks: tries per delivery, the first retry's delay (doubling after), timeout per try. */
  POSTBACK_MAX_ATTEMPTS: positiveInt(6),
  POSTBACK_RETRY_BASE_MS: positiveInt(1000),
  POSTBACK_TIMEOUT_MS: positiveInt(5000),
  /** Let endpoints point at loopback and private addresses (tests, closed networks). */
  POSTBACK_ALLOW_PRIVATE: z.enum(['true', 'false']).default('false'),

  CLICK_SECRET: secret.optional(),
  PSEUDONYM_SECRET: secret.optional(),
  TOKEN_SECRET: secret.optional(),
  OPERATOR_API_KEY: secret.optional(),
})

export type Secrets = { clickSecret: string; pseudonymSecret: string; tokenSecret: string; operatorApiKey: string }

export type Config = {
  port: number
  host: string
  trustProxy: boolean | number | string
  dataDir: string
  logLevel: z.infer<typeof EnvSchema>['LOG_LEVEL']
  logFormat: z.infer<typeof EnvSchema>['LOG_FORMAT']
  nats: { url: string | undefined; serverBin: string }
  clickhouse: { url: string | undefined; user: string; password: string; database: string }
  stream: { partitions: number; dedupWindowS: number; maxAgeDays: number; postbackIdempotencyDays: number }
  ingest: {
    clickAck: 'stored' | 'buffered'
    clickAckTimeoutMs: number
    maxBatchEvents: number
    maxInflight: number
    cookie: { name: string; domain?: string | undefined; maxAgeDays: number } | undefined
    /** 0: no limit */
    postbackRate: { perAddress: number; perSource: number; windowMs: number }
    /** limit 0: off */
    clickFlood: { limit: number; windowMs: number }
  }
  processor: {
    threads: number
    batchMessages: number
    batchBytes: number
    batchWaitMs: number
    ackWaitS: number
    attributionWindowDays: number
    ipStorage: 'pseudonymise' | 'truncate' | 'full'
    /** the fraud rules' settings before any stored change */
    fraudSettings: FraudSettings
    fraudRules: boolean
  }
  outbound: { maxAttempts: number; retryBaseMs: number; timeoutMs: number; allowPrivate: boolean }
  secrets: Secrets
  api: ReturnType<typeof apiConfig>
  /** True when this process runs its own nats-server and chDB. */
  embedded: boolean
}

export class ConfigError extends Error {}

/** Parse the environment into a Config. Secrets missing in embedded mode are generated
 *  once and kept in DATA_DIR/secrets.json (mode 0600); distributed mode requires them. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = EnvSchema.safeParse(env)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`)
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`)
  }
  const e = parsed.data
  const dataDir = resolve(e.DATA_DIR)
  const embedded = !e.NATS_URL
  const given: Partial<Secrets> = {
    clickSecret: e.CLICK_SECRET,
    pseudonymSecret: e.PSEUDONYM_SECRET,
    tokenSecret: e.TOKEN_SECRET,
    operatorApiKey: e.OPERATOR_API_KEY,
  }
  const secrets = resolveSecrets(given, dataDir, embedded)
  return {
    port: e.PORT,
    host: e.HOST,
    trustProxy: e.TRUST_PROXY,
    dataDir,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    nats: { url: e.NATS_URL, serverBin: e.NATS_SERVER_BIN },
    clickhouse: { url: e.CLICKHOUSE_URL, user: e.CLICKHOUSE_USER, password: e.CLICKHOUSE_PASSWORD, database: e.CLICKHOUSE_DATABASE },
    stream: {
      partitions: e.PARTITIONS,
      dedupWindowS: e.DEDUP_WINDOW_S,
      maxAgeDays: e.STREAM_MAX_AGE_DAYS,
      postbackIdempotencyDays: e.POSTBACK_IDEMPOTENCY_DAYS,
    },
    ingest: {
      clickAck: e.CLICK_ACK,
      clickAckTimeoutMs: e.CLICK_ACK_TIMEOUT_MS,
      maxBatchEvents: e.PUBLISH_MAX_BATCH_EVENTS,
      maxInflight: e.PUBLISH_MAX_INFLIGHT,
      cookie:
        e.CLICK_COOKIE_NAME === 'off'
          ? undefined
          : { name: e.CLICK_COOKIE_NAME, domain: e.CLICK_COOKIE_DOMAIN, maxAgeDays: e.CLICK_COOKIE_DAYS ?? e.ATTRIBUTION_WINDOW_DAYS },
      postbackRate: { perAddress: e.POSTBACK_RATE_PER_ADDRESS, perSource: e.POSTBACK_RATE_PER_SOURCE, windowMs: e.POSTBACK_RATE_WINDOW_S * 1000 },
      clickFlood: { limit: e.CLICK_FLOOD_LIMIT, windowMs: e.CLICK_FLOOD_WINDOW_S * 1000 },
    },
    processor: {
      threads: e.PROCESSOR_THREADS,
      batchMessages: e.PROCESSOR_BATCH_MESSAGES,
      batchBytes: e.PROCESSOR_BATCH_BYTES,
      batchWaitMs: e.PROCESSOR_BATCH_WAIT_MS,
      ackWaitS: e.PROCESSOR_ACK_WAIT_S,
      attributionWindowDays: e.ATTRIBUTION_WINDOW_DAYS,
      ipStorage: e.IP_STORAGE,
      fraudSettings: e.FRAUD_SETTINGS,
      fraudRules: e.FRAUD_RULES === 'on',
    },
    outbound: {
      maxAttempts: e.POSTBACK_MAX_ATTEMPTS,
      retryBaseMs: e.POSTBACK_RETRY_BASE_MS,
      timeoutMs: e.POSTBACK_TIMEOUT_MS,
      allowPrivate: e.POSTBACK_ALLOW_PRIVATE === 'true',
    },
    secrets,
    api: apiConfig(e),
    embedded,
  }
}

export function secretsFile(dataDir: string): string {
  return join(dataDir, 'secrets.json')
}

function resolveSecrets(given: Partial<Secrets>, dataDir: string, embedded: boolean): Secrets {
  const file = secretsFile(dataDir)
  let stored: Partial<Secrets> = {}
  if (existsSync(file)) stored = JSON.parse(readFileSync(file, 'utf8')) as Partial<Secrets>
  const names: (keyof Secrets)[] = ['clickSecret', 'pseudonymSecret', 'tokenSecret', 'operatorApiKey']
  const out: Partial<Secrets> = {}
  let generated = false
  for (const n of names) {
    const v = given[n] ?? stored[n]
    if (v) {
      out[n] = v
      continue
    }
    if (!embedded) {
      const envName = n.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()
      throw new ConfigError(`${envName} is required when NATS_URL is set (every tier of a cluster must share it)`)
    }
    out[n] = randomBytes(24).toString('base64url')
    generated = true
  }
  if (generated) {
    mkdirSync(dataDir, { recursive: true })
    writeFileSync(file, JSON.stringify(out, null, 2) + '\n', { mode: 0o600 })
  }
  return out as Secrets
}

/** `--tier ingest,processor` (or `--tier all`); default all. */
export function parseTiers(argv: string[]): Tier[] {
  const i = argv.findIndex((a) => a === '--tier' || a.startsWith('--tier='))
  if (i < 0) return [...TIERS]
  const raw = argv[i]!.includes('=') ? argv[i]!.split('=')[1]! : argv[i + 1]
  if (!raw) throw new ConfigError('--tier needs a value: all, ingest, processor, query-api (comma separated)')
  if (raw === 'all') return [...TIERS]
  const tiers = raw.split(',').map((t) => t.trim())
  for (const t of tiers) if (!(TIERS as readonly string[]).includes(t)) throw new ConfigError(`unknown tier '${t}' (ingest, processor, query-api, all)`)
  return tiers as Tier[]
}
