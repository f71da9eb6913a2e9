import { chromium, type Browser, type Page } from 'playwright-core'

/** Debian's Chromium, headless; never a downloaded browser. */
export const CHROMIUM = '/usr/bin/chromium'

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}

/** Choose an affiliate in a searchable picker: type part of its name, click the match. */
export async function pickAffiliate(page: Page, testid: string, name: string) {
  await page.getByTestId(testid).fill(name)
  await page.getByTestId(`${testid}-option`).filter({ hasText: name }).first().click()
}

/** Sign in on the dashboard with an operator key or an affiliate token; resolves once the live feed is up. */
export async function signIn(page: Page, url: string, credential: string) {
  await page.goto(url)
  await page.fill('input[type=password]', credential)
  await page.click('button[type=submit]')
  await page.getByTestId('live-status').filter({ hasText: 'live' }).waitFor({ timeout: 15_000 })
}
