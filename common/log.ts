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

export type LogFormat = 'auto' | 'pretty' | 'json'

/** Whether lines are printed for a person (pino-pretty) or as JSON; `auto` asks whether stdout is a terminal. */
export function prettyLogs(format: LogFormat, isTTY = process.stdout.isTTY === true): boolean {
  return format === 'pretty' || (format === 'auto' && isTTY)
}

export function createLogger(level: string, name = 'amp', format: LogFormat = 'json'): Logger {
  const options = { level, name, redact: { paths: REDACT, censor: '[redacted]' } }
  if (!prettyLogs(format)) return pino(options)
  // Redaction happens before a line reaches the transport, so pretty lines hide the same secrets.
  return pino({ ...options, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name' } } })
}

export type { Logger }
