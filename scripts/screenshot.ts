/**
 * Takes a screenshot of the live dashboard in headless Chromium: starts the embedded app
 * with demo traffic in a temporary data directory, signs in, lets the numbers move, and
 * writes screenshots/dashboard.png. Prints the numbers it saw.
 *
 *   npm run screenshot
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { spawnApp } from '../test/helpers/app.js'
import { launchChromium } from '../test/helpers/browser.js'
import { tempDir } from '../test/helpers/config.js'

const dataDir = tempDir('shot')
const out = join(process.cwd(), 'screenshots', 'dashboard.png')
const app = await spawnApp({ env: { DATA_DIR: dataDir }, args: ['--demo'] })
const key = (JSON.parse(readFileSync(join(dataDir, 'secrets.json'), 'utf8')) as { operatorApiKey: string }).operatorApiKey
const browser = await launchChromium()
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  await page.goto(app.url)
  await page.fill('input[type=password]', key)
  await page.click('button[type=submit]')
  await page.getByTestId('live-status').filter({ hasText: 'live' }).waitFor({ timeout: 15_000 })
  await page.click('text=Send demo traffic')
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=ftds]')?.textContent?.replace(/\D/g, '')) > 10, undefined, { timeout: 60_000 })
  await page.waitForTimeout(3000)
  const seen = {
    clicks: await page.getByTestId('clicks').textContent(),
    registrations: await page.getByTestId('registrations').textContent(),
    ftds: await page.getByTestId('ftds').textContent(),
    commission: await page.getByTestId('commission').textContent(),
  }
  mkdirSync(join(process.cwd(), 'screenshots'), { recursive: true })
  await page.screenshot({ path: out, fullPage: true })
  process.stdout.write(`${JSON.stringify({ screenshot: out, ...seen })}\n`)
} finally {
  await browser.close()
  await app.stop()
  rmSync(dataDir, { recursive: true, force: true })
}
