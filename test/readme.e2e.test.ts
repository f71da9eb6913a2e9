/**
 * The README's curl walkthrough is run as written against a fresh embedded app: brand →
 * offer → affiliate → deal → link → source → click → registration → FTD → the affiliate's
 * totals. If the README drifts from the API, this fails.
 */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rmSync } from 'node:fs'
import { spawnApp, spawnEmbedded, waitFor, type EmbeddedApp } from './helpers/app.js'
import { tempDir, TEST_SECRETS } from './helpers/config.js'

const run = promisify(execFile)

/** The shell block between the README's walkthrough markers. */
function walkthrough(readme: string): string {
  const m = /<!-- walkthrough:start[^>]*-->\s*```sh\n([\s\S]*?)```\s*<!-- walkthrough:end -->/.exec(readme)
  if (!m) throw new Error('README has no walkthrough block')
  return m[1]!
}

let app: EmbeddedApp
beforeAll(async () => {
  // every fraud rule at its default, as an operator starts it: the walkthrough must hold under them
  app = await spawnEmbedded('readme', { FRAUD_SETTINGS: '{}' })
})
afterAll(async () => {
  await app?.dispose()
})

describe('README walkthrough', () => {
  it('runs as written and ends with the affiliate paid its CPA', { timeout: 90_000 }, async () => {
    const script = walkthrough(readFileSync(new URL('../README.md', import.meta.url), 'utf8'))
    const r = await run('bash', ['-euo', 'pipefail', '-c', script], { env: { PATH: process.env.PATH ?? '', API: app.url, KEY: TEST_SECRETS.OPERATOR_API_KEY }, timeout: 60_000 })
    expect(r.stdout).toMatch(new RegExp(`tracking link: ${app.url}/c/\\S+`))
    // both postbacks accepted, in the order sent
    expect(r.stdout).toMatch(/"status":"accepted","event":"registration"[\s\S]*"status":"accepted","event":"ftd"/)
    // The script's own summary may be read a moment before the FTD is applied, and its CPA is
    // written a moment after that, by the affiliate stage: the totals are checked until both are in.
    const aff = (await app.call<{ items: { id: number; name: string }[] }>('GET', '/api/affiliates?q=Casino%20Guru')).body.items[0]!
    const totals = await waitFor(
      'the walkthrough FTD and its commission in the totals',
      async () => (await app.call('GET', `/api/reports/summary?affiliateId=${aff.id}`)).body.totals,
      (t) => t.ftds === 1 && Object.keys(t.commission ?? {}).length > 0,
    )
    expect(totals).toEqual({ clicks: 1, registrations: 1, ftds: 1, unattributed: 0, commission: { EUR: '50' } })
  })
})

describe('start-up banner with --demo', () => {
  it("prints the demo postback source's id and token, and the printed try-it command is accepted", async () => {
    const dir = tempDir('banner')
    const demo = await spawnApp({ env: { DATA_DIR: dir, ...TEST_SECRETS }, args: ['--demo'] })
    try {
      const banner = await waitFor('the banner', async () => demo.logs(), (l) => l.includes('Demo postback source'), 20_000)
      expect(banner).toMatch(/Demo postback source: source=\d+ token=\S{20,}/)
      const tryIt = /try: curl "([^"]+)"/.exec(banner)![1]!.replace('localhost', '127.0.0.1')
      const r = await fetch(tryIt)
      expect(r.status).toBe(200)
      expect(await r.json()).toMatchObject({ status: 'accepted', event: 'registration', event_id: 'try-1' })
    } finally {
      await demo.kill()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
