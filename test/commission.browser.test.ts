/**
 * The Commission view in Debian's Chromium: an operator picks an affiliate and sees its deal
 * with every version in words, the period's total, every ledger line with its reason, and a
 * chain that checks, its live earnings, RevShare balance and players, and composes, previews
 * and saves deal versions; the affiliate sees the same of its own with a notice of each deal
 * change, and nothing of another's.
 * COMMISSION_SHOTS=<dir> writes screenshots of both.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, spawnEmbedded, waitFor, type EmbeddedApp } from './helpers/app.js'
import { launchChromium, pickAffiliate, signIn } from './helpers/browser.js'
import { TEST_SECRETS } from './helpers/config.js'
import { BROWSER_UA } from './helpers/scenario.js'

let app: EmbeddedApp
let browser: Browser
const SHOTS = process.env.COMMISSION_SHOTS
let aff: { id: number; name: string }
let token = ''

beforeAll(async () => {
  app = await spawnEmbedded('commission-view')
  browser = await launchChromium()
  if (SHOTS) mkdirSync(SHOTS, { recursive: true })
  const call = app.call
  aff = (await call('POST', '/api/affiliates', { name: 'Kappa Partners', group: 'gold' })).body
  await call('POST', '/api/affiliates', { name: 'Kappa Rival' })
  const code = (await call('POST', '/api/links', { affiliateId: aff.id, destination: 'https://brand.example/?cid={click_id}' })).body.code
  const deal = await call('POST', '/api/deals', {
    name: 'Kappa hybrid',
    affiliateId: aff.id,
    terms: { currency: 'EUR', cpl: { amount: '2' }, cpa: { amount: '120', holdDays: 30, qualification: { minFirstDeposit: '20' } }, revshare: { bands: [{ from: '0', rate: '0.25' }] } },
  })
  expect(deal.status).toBe(201)
  const later = new Date(Date.now() + 7 * 86_400_000).toISOString()
  expect((await call('POST', `/api/deals/${deal.body.id}/versions`, { effectiveFrom: later, terms: { currency: 'EUR', cpa: { amount: '150', holdDays: 30 } } })).status).toBe(201)
  const src = (await call('POST', '/api/sources', { name: 'kappa casino' })).body
  await new Promise((r) => setTimeout(r, 300))
  const post = (body: Record<string, string>) =>
    fetch(`${app.url}/postback`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-postback-token': src.token }, body: JSON.stringify({ source: String(src.id), ...body }) })
  const r = await fetch(`${app.url}/c/${code}`, { redirect: 'manual', headers: { 'user-agent': BROWSER_UA } })
  const cid = new URL(r.headers.get('location')!).searchParams.get('cid')!
  expect((await post({ event: 'registration', event_id: 'r1', click_id: cid, player_id: 'k-1' })).status).toBe(200)
  expect((await post({ event: 'ftd', event_id: 'f1', player_id: 'k-1', amount: '40', currency: 'EUR' })).status).toBe(200)
  const date = new Date().toISOString().slice(0, 10)
  expect((await post({ event: 'activity', event_id: 'a1', player_id: 'k-1', currency: 'EUR', date, bets: '300', wins: '100' })).status).toBe(200)
  // CPL 2 + CPA 120 (pending) + 25% of 200 NGR
  await waitFor('the ledger', async () => (await call('GET', `/api/ledger?affiliateId=${aff.id}`)).body.items.length, (n: number) => n === 3, 20_000)
  token = (await call('POST', `/api/affiliates/${aff.id}/tokens`, {})).body.token
}, 90_000)

afterAll(async () => {
  await browser?.close()
  await app?.dispose()
})

async function open(page: Page) {
  const nav = page.getByTestId('nav-commission')
  await nav.waitFor({ state: 'attached' })
  if (!(await nav.isVisible())) await page.getByTestId('menu').click()
  await nav.click()
}

async function checkView(page: Page) {
  await page.getByTestId('ledger-line').first().waitFor()
  expect(await page.getByTestId('ledger-line').count()).toBe(3)
  const reasons = await page.getByTestId('line-reason').allTextContents()
  expect(reasons.join('\n')).toMatch(/CPA 120\.00 EUR: qualified .*FTD 40\.00 EUR ≥ 20\.00 EUR/)
  expect(reasons.join('\n')).toMatch(/CPL 2\.00 EUR/)
  expect(reasons.join('\n')).toMatch(/RevShare 25%/)
  expect(await page.locator('[data-testid=ledger-line][data-kind=cpa]').getByText('Pending (in its hold)').count()).toBe(1)
  // the period's total: 2 + 120 + 50
  expect(await page.getByTestId('period-total').first().textContent()).toMatch(/172\.00/)
  const versions = (await page.getByTestId('deal').filter({ hasText: 'Kappa hybrid' }).getByTestId('deal-version').allTextContents()).map((v) => v.replace(/\s+/g, ' '))
  expect(versions.length).toBeGreaterThanOrEqual(2)
  expect(versions[0]).toMatch(/CPA €120\.00 when first deposit ≥ €20\.00; held 30 days/)
  expect(versions[0]).toMatch(/RevShare 25% of NGR per month/)
  expect(versions[1]).toMatch(/v2 from .*CPA €150\.00 on the first deposit/)
  await page.getByTestId('verify-chain').click()
  await page.getByTestId('chain-result').filter({ hasText: 'The chain holds: 3 lines' }).waitFor()
  // live earnings: this month 172, of which the CPA pending; the RevShare balance pays 25% of 200
  await page.getByTestId('earn-month').filter({ hasText: '172.00' }).waitFor()
  expect(await page.getByTestId('rs-net').first().textContent()).toMatch(/200\.00/)
  expect(await page.getByTestId('rs-pays').first().textContent()).toMatch(/50\.00/)
  // the player, by pseudonym: NGR 300 − 100, and all three lines
  await page.getByTestId('player-row').first().waitFor()
  expect(await page.getByTestId('player-row').count()).toBe(1)
  expect(await page.getByTestId('player-ngr').first().textContent()).toMatch(/200\.00/)
  expect(await page.getByTestId('player-commission').first().textContent()).toMatch(/172\.00/)
}

describe('the Commission view', () => {
  it("an operator picks an affiliate and sees its deal, totals, ledger with reasons, and a chain that holds", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(String(e)))
    await signIn(page, app.url, TEST_SECRETS.OPERATOR_API_KEY)
    await open(page)
    // the overview across affiliates; a row opens the affiliate
    await page.getByTestId('overview-row').filter({ hasText: 'Kappa Partners' }).waitFor()
    expect(await page.getByTestId('overview-row').filter({ hasText: 'Kappa Partners' }).getByTestId('overview-accrued').textContent()).toMatch(/172\.00/)
    if (SHOTS) await page.screenshot({ path: join(SHOTS, 'commission-overview.png'), fullPage: true })
    await page.getByTestId('overview-row').filter({ hasText: 'Kappa Partners' }).getByRole('button', { name: 'Kappa Partners' }).click()
    await checkView(page)

    // the deal editor: the next version of the hybrid starts from its latest terms (CPA 150)
    await page.getByTestId('deal-target').selectOption({ label: 'version 3 of “Kappa hybrid”' })
    expect(await page.getByTestId('deal-cpa-amount').inputValue()).toBe('150')
    // preview: what if the CPA were 300 (last month and this month, the real events)
    await page.getByTestId('deal-cpa-amount').fill('300')
    await page.getByTestId('deal-preview').click()
    await page.getByTestId('deal-preview-result').waitFor()
    expect(await page.getByTestId('preview-proposed').first().textContent()).toMatch(/300\.00/)
    // a bad amount is named by the API; bad JSON is named before asking
    await page.getByTestId('deal-cpa-amount').fill('-1')
    await page.getByTestId('deal-preview').click()
    await page.getByTestId('deal-error').filter({ hasText: 'must not be negative' }).waitFor()
    await page.getByTestId('deal-editor').locator('summary').click()
    await page.getByTestId('deal-json-mode').check()
    await page.getByTestId('deal-json').fill('{"currency": "EUR"')
    await page.getByTestId('deal-preview').click()
    await page.getByTestId('deal-error').filter({ hasText: 'not valid JSON' }).waitFor()
    await page.getByTestId('deal-json-mode').uncheck()
    // save the version with RevShare 30%: the deal shows three versions, the new in words
    await page.getByTestId('deal-cpa-amount').fill('150')
    await page.getByTestId('deal-rs-on').check()
    await page.getByTestId('deal-rs-rate').fill('30')
    // a version applies after the one before it (v2 starts in 7 days): the editor says so
    await page.getByTestId('deal-save').click()
    await page.getByTestId('deal-error').filter({ hasText: "effectiveFrom must be after the latest version's" }).waitFor()
    await page.getByTestId('deal-from').fill(new Date(Date.now() + 10 * 86_400_000).toISOString().slice(0, 10))
    await page.getByTestId('deal-save').click()
    await page.getByTestId('deal-saved').filter({ hasText: 'version 3' }).waitFor()
    const hybrid = page.getByTestId('deal').filter({ hasText: 'Kappa hybrid' })
    await hybrid.getByTestId('deal-version').nth(2).waitFor()
    expect((await hybrid.getByTestId('deal-version').nth(2).textContent())!.replace(/\s+/g, ' ')).toMatch(/v3 from .*CPA €150\.00 .*RevShare 30% of NGR per month/)
    // and a new deal, by name
    await page.getByTestId('deal-target').selectOption('new')
    await page.getByTestId('deal-name').fill('Kappa CPL')
    await page.getByTestId('deal-cpa-on').uncheck()
    await page.getByTestId('deal-cpl-on').check()
    await page.getByTestId('deal-cpl-amount').fill('4.50')
    await page.getByTestId('deal-save').click()
    await page.getByTestId('deal-saved').filter({ hasText: 'Kappa CPL' }).waitFor()
    const stored = (await app.call('GET', '/api/deals')).body.items.filter((d: { affiliateId: number }) => d.affiliateId === aff.id)
    expect(stored.map((d: { name: string; versions: unknown[] }) => [d.name, d.versions.length])).toEqual([
      ['Kappa hybrid', 3],
      ['Kappa CPL', 1],
    ])
    expect(stored[0].versions[2].terms.revshare.bands).toEqual([{ from: '0', rate: '0.3' }])
    // a new deal starts from a plain form, not from the version edited before
    expect(stored[1].versions[0].terms).toMatchObject({ currency: 'EUR', cpl: { amount: '4.50' } })
    expect(stored[1].versions[0].terms.revshare).toBeUndefined()
    expect(stored[1].versions[0].terms.cpa).toBeUndefined()
    expect(stored[1].versions[0].effectiveFrom).toBeLessThan(Date.now() + 60_000)
    // a deal for every affiliate of Kappa's group: listed among Kappa's deals, saying so
    await page.getByTestId('deal-target').selectOption('new')
    await page.getByTestId('deal-name').fill('Gold CPL')
    await page.getByTestId('deal-for').selectOption({ label: 'every affiliate in the group “gold”' })
    await page.getByTestId('deal-save').click()
    await page.getByTestId('deal-saved').filter({ hasText: 'for every affiliate in the group “gold”' }).waitFor()
    expect((await app.call('GET', '/api/deals')).body.items.find((d: { name: string }) => d.name === 'Gold CPL')).toMatchObject({ group: 'gold', versions: [{ version: 1 }] })
    await page.getByTestId('deal').filter({ hasText: 'Gold CPL' }).filter({ hasText: 'for the group “gold”' }).waitFor()
    if (SHOTS) await page.screenshot({ path: join(SHOTS, 'commission-operator.png'), fullPage: true })
    expect(errors).toEqual([])
    await page.close()
  }, 90_000)

  it('the affiliate sees its own, under "Your commission", and the API refuses it another', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } })
    await signIn(page, app.url, token)
    await open(page)
    // told of every deal change: the two versions set up, the two the operator saved, and its group's new deal
    await page.getByTestId('deal-notice').first().waitFor()
    expect(await page.getByTestId('deal-notice').count()).toBe(5)
    expect(await page.getByTestId('deal-notice').filter({ hasText: 'New deal: Gold CPL (for your group “gold”)' }).count()).toBe(1)
    expect(await page.getByTestId('deal-notice').allTextContents()).toContainEqual(expect.stringMatching(/Your deal “Kappa hybrid” changes: version 3.*RevShare 30%/))
    await page.getByTestId('deal-notice').first().getByRole('button', { name: 'Dismiss this notice' }).click()
    expect(await page.getByTestId('deal-notice').count()).toBe(4)
    await checkView(page)
    if (SHOTS) await page.screenshot({ path: join(SHOTS, 'commission-affiliate-phone.png'), fullPage: true })
    expect((await api(app.url, token)('GET', `/api/ledger?affiliateId=${aff.id + 1}`)).status).toBe(403)
    await page.close()
  })
})
