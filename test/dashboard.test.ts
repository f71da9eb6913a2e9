/**
 * The dashboard in real headless Chromium against the embedded app: it signs in, shows the
 * live numbers, and a click made after the page loaded shows up without a reload.
 */
import { rmSync } from 'node:fs'
import type { Browser } from 'playwright-core'
import { afterAll, describe, expect, it } from 'vitest'
import { api, spawnApp, type RunningApp } from './helpers/app.js'
import { launchChromium } from './helpers/browser.js'
import { tempDir, TEST_SECRETS } from './helpers/config.js'
import { BROWSER_UA, setupProgram } from './helpers/scenario.js'

const dataDir = tempDir('dash')
let app: RunningApp | undefined
let browser: Browser | undefined

afterAll(async () => {
  await browser?.close()
  await app?.stop()
  rmSync(dataDir, { recursive: true, force: true })
})

describe('live dashboard', () => {
  // How fast (event accepted → delta on /ws) is measured by `npm run bench` (freshness p99),
  // not by a timed test; here: the page follows events live, without a reload.
  it('follows each new event live, without a reload', async () => {
    app = await spawnApp({ env: { DATA_DIR: dataDir, OPERATOR_API_KEY: TEST_SECRETS.OPERATOR_API_KEY, PROCESSOR_BATCH_WAIT_MS: '50' } })
    const prog = await setupProgram(api(app.url, TEST_SECRETS.OPERATOR_API_KEY))
    browser = await launchChromium()
    const page = await browser.newPage()
    await page.goto(app.url)
    await page.fill('input[type=password]', TEST_SECRETS.OPERATOR_API_KEY)
    await page.click('button[type=submit]')
    await page.getByTestId('live-status').filter({ hasText: 'live' }).waitFor({ timeout: 15_000 })
    const clicks = page.getByTestId('clicks')
    await expect.poll(() => clicks.textContent()).toBe('0')

    let loads = 0
    page.on('load', () => loads++)
    for (let i = 1; i <= 3; i++) {
      const r = await fetch(`${app.url}/c/${prog.links[0]!.code}`, { redirect: 'manual', headers: { 'user-agent': BROWSER_UA } })
      expect(r.status).toBe(302)
      await page.waitForFunction((n) => document.querySelector('[data-testid=clicks]')?.textContent === String(n), i, { timeout: 10_000 })
    }
    expect(loads).toBe(0)
    await expect.poll(() => page.getByTestId('by-affiliate').textContent()).toContain('Alpha Media')
  }, 90_000)
})
