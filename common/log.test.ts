import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { prettyLogs } from './log.js'

const ROOT = fileURLToPath(new URL('../', import.meta.url))

/** Log one line with a secret in a child process (the pretty printer runs on a worker thread of it). */
function logLine(format: string): string {
  const script = `import { createLogger } from './common/log.js'; const l = createLogger('info', 'amp', '${format}'); l.info({ token: 'tok-SECRET', affiliateId: 7 }, 'hello operator')`
  return execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', NO_COLOR: '1' },
  })
}

describe('log format', () => {
  it.each<[string, boolean, boolean]>([
    ['auto', true, true],
    ['auto', false, false],
    ['pretty', false, true],
    ['json', true, false],
  ])('%s with a terminal=%s → pretty %s', (format, tty, want) => {
    expect(prettyLogs(format as 'auto', tty)).toBe(want)
  })

  it('prints pretty lines for a person and JSON for a pipeline, with secrets redacted in both', () => {
    const pretty = logLine('pretty')
    expect(pretty).toMatch(/INFO.*hello operator/)
    expect(pretty).toContain('affiliateId: 7')
    expect(() => JSON.parse(pretty.trim().split('\n')[0]!)).toThrow()
    const json = JSON.parse(logLine('json').trim()) as Record<string, unknown>
    expect(json).toMatchObject({ msg: 'hello operator', affiliateId: 7, token: '[redacted]' })
    for (const out of [pretty, JSON.stringify(json)]) expect(out).not.toContain('tok-SECRET')
  })
})
