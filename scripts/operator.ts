/**
 * What the operator command-line tools share: the instance to talk to (--url, default the
 * embedded port) and the operator key (--key, OPERATOR_API_KEY, or DATA_DIR/secrets.json).
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

/** Take `--name value` out of args; the value, if it was there. */
export function takeFlag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name)
  return i >= 0 ? args.splice(i, 2)[1] : undefined
}

/** The instance and key from the flags (taken out of args) and the environment; exits 2 with a reason when there is no key. */
export function operatorTarget(args: string[]): { url: string; key: string } {
  const url = takeFlag(args, '--url') ?? `http://127.0.0.1:${process.env.PORT ?? 8080}`
  const key =
    takeFlag(args, '--key') ??
    process.env.OPERATOR_API_KEY ??
    (() => {
      const f = join(process.env.DATA_DIR ?? './data', 'secrets.json')
      return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as { operatorApiKey?: string }).operatorApiKey : undefined
    })()
  if (!key) {
    process.stderr.write('no operator key: pass --key, set OPERATOR_API_KEY, or run where DATA_DIR/secrets.json is\n')
    process.exit(2)
  }
  return { url, key }
}
