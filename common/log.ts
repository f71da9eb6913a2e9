import { pino, type Logger } from 'pino'

/** Paths that must never reach a log line. */
export const REDACT = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["x-postback-token"]',
  'req.query.token',
  'token',
  'secret',
  'secrets',
  '*.token',
  '*.secret',
]

export function createLogger(level: string, name = 'amp'): Logger {
  return pino({ level, name, redact: { paths: REDACT, censor: '[redacted]' } })
}

export type { Logger }
