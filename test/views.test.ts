/**
 * The dashboard's management views in real headless Chromium against the embedded app. An
 * operator creates a brand, an offer with a landing page, an affiliate, a postback source and
 * a link in the forms, sees an API error next to its form, verifies the audit chain and
 * watches a new click arrive in the event log without a reload. An affiliate signs in with a
 * portal token, builds a link to the landing page (the server redirects there), registers an
 * outbound postback endpoint (a local HTTP server) and test-fires it.
 */
import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { cpSync, existsSync, readdirSync, rmSync, statSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, spawnApp, waitFor, type RunningApp } from './helpers/app.js'
import { launchChromium, pickAffiliate } from './helpers/browser.js'
import { tempDir, TEST_SECRETS } from './helpers/config.js'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const dataDir = tempDir('views')
let app: RunningApp
let call: ReturnType<typeof api>
let browser: Browser
let page: Page
let server: Server
let base: string
const hits: string[] = []

/** Newest modification time under a directory. */
function newest(dir: string): number {
  let t = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs)
  }
  return t
}

/**
 * `npm test` builds the dashboard first; run alone, this file builds it when the build is
 * missing or older than its sources. Built aside, then copied in (index.html last, nothing
 * removed), so an app another test file is running keeps finding its files.
 */
function ensureDashboardBuilt() {
  const dist = join(ROOT, 'dashboard/dist')
  const sources = Math.max(
    newest(join(ROOT, 'dashboard/src')),
    statSync(join(ROOT, 'dashboard/index.html')).mtimeMs,
    statSync(join(ROOT, 'dashboard/vite.config.ts')).mtimeMs,
  )
  if (existsSync(join(dist, 'index.html')) && statSync(join(dist, 'index.html')).mtimeMs >= sources) return
  const out = tempDir('views-build')
  try {
    execFileSync(
      process.execPath,
      [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--config', 'dashboard/vite.config.ts', '--outDir', out, '--logLevel', 'warn'],
      { cwd: ROOT, stdio: 'pipe' },
    )
    cpSync(join(out, 'assets'), join(dist, 'assets'), { recursive: true })
    cpSync(join(out, 'index.html'), join(dist, 'index.html'))
  } finally {
    rmSync(out, { recursive: true, force: true })
  }
}

/** A link made a moment ago reaches the click path through a KV watch: retry a 404 briefly. */
async function click(url: string): Promise<Response> {
  for (let i = 0; ; i++) {
    const r = await fetch(url, { redirect: 'manual' })
    if (r.status !== 404 || i >= 50) return r
    await new Promise((res) => setTimeout(res, 100))
  }
}

async function signIn(p: Page, credential: string) {
  await p.goto(app.url)
  await p.fill('input[type=password]', credential)
  await p.click('button[type=submit]')
  await p.getByTestId('live-status').filter({ hasText: 'live' }).waitFor({ timeout: 15_000 })
}

beforeAll(async () => {
  ensureDashboardBuilt()
  server = createServer((req, res) => {
    hits.push(req.url ?? '')
    res.writeHead(200).end('OK')
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  app = await spawnApp({
    env: { DATA_DIR: dataDir, ...TEST_SECRETS, PROCESSOR_BATCH_WAIT_MS: '50', POSTBACK_ALLOW_PRIVATE: 'true', POSTBACK_RETRY_BASE_MS: '100' },
  })
  call = api(app.url, TEST_SECRETS.OPERATOR_API_KEY)
  browser = await launchChromium()
  page = await browser.newPage()
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await app?.stop()
  server?.close()
  rmSync(dataDir, { recursive: true, force: true })
})

describe('dashboard management views', () => {
  let brand: { id: number }
  let offer: { id: number }
  let affiliate: { id: number }

  it('an operator creates a brand, an offer with a landing page and an affiliate in the forms', async () => {
    await signIn(page, TEST_SECRETS.OPERATOR_API_KEY)

    await page.getByTestId('nav-brands').click()
    await page.getByTestId('brand-name').fill('Acme Casino')
    await page.getByTestId('brand-url').fill('https://acme.example')
    await page.getByTestId('brand-create').click()
    await page.getByTestId('brand-row').filter({ hasText: 'Acme Casino' }).waitFor()

    await page.getByTestId('nav-offers').click()
    await page.getByTestId('offer-brand').selectOption({ label: 'Acme Casino' })
    await page.getByTestId('offer-name').fill('Spring Promo')
    // The API's reason shows next to the form.
    await page.getByTestId('offer-destination').fill('not a url')
    await page.getByTestId('offer-create').click()
    await expect.poll(() => page.getByTestId('offer-error').textContent()).toContain('destination')
    await page.getByTestId('offer-destination').fill('https://acme.example/?c={click_id}')
    await page.getByTestId('offer-landing-add').click()
    await page.getByTestId('offer-landing-id').fill('spring')
    await page.getByTestId('offer-landing-name').fill('Spring page')
    await page.getByTestId('offer-landing-url').fill('https://acme.example/spring?c={click_id}')
    await page.getByTestId('offer-markets').fill('de, at')
    await page.getByTestId('offer-create').click()
    const offerRow = page.getByTestId('offer-row').filter({ hasText: 'Spring Promo' })
    await offerRow.waitFor()
    expect(await offerRow.textContent()).toContain('Acme Casino')
    expect(await page.getByTestId('offer-error').count()).toBe(0)

    await page.getByTestId('nav-affiliates').click()
    await page.getByTestId('affiliate-name').fill('Spring Partner')
    await page.getByTestId('affiliate-email').fill('partner@spring.example')
    await page.getByTestId('affiliate-manager').fill('Mia')
    await page.getByTestId('affiliate-create').click()
    const affRow = page.getByTestId('affiliate-row').filter({ hasText: 'Spring Partner' })
    await affRow.waitFor()
    // A portal token is shown once, copyable.
    await affRow.getByTestId('affiliate-token-issue').click()
    await expect.poll(async () => ((await page.getByTestId('affiliate-token').textContent()) ?? '').length).toBeGreaterThan(20)

    // What the forms made, through the REST API.
    const brands = (await call<{ items: any[] }>('GET', '/api/brands')).body.items
    expect(brands).toEqual([expect.objectContaining({ name: 'Acme Casino', url: 'https://acme.example', status: 'active' })])
    brand = brands[0]
    const offers = (await call<{ items: any[] }>('GET', '/api/offers')).body.items
    expect(offers).toEqual([
      expect.objectContaining({
        name: 'Spring Promo',
        brandId: brand.id,
        destination: 'https://acme.example/?c={click_id}',
        landingPages: [{ id: 'spring', name: 'Spring page', url: 'https://acme.example/spring?c={click_id}' }],
        markets: ['DE', 'AT'],
        status: 'active',
      }),
    ])
    offer = offers[0]
    const affiliates = (await call<{ items: any[] }>('GET', '/api/affiliates?limit=1000')).body.items
    expect(affiliates).toEqual([expect.objectContaining({ name: 'Spring Partner', email: 'partner@spring.example', manager: 'Mia', status: 'active' })])
    affiliate = affiliates[0]
  }, 60_000)

  it('a postback source shows its token once; the audit chain verifies', async () => {
    await page.getByTestId('nav-sources').click()
    await page.getByTestId('source-name').fill('Acme platform')
    await page.getByTestId('source-ipallow').fill('127.0.0.1, 10.0.0.0/8')
    await page.getByTestId('source-create').click()
    await page.getByTestId('source-secret-box').waitFor()
    const token = (await page.getByTestId('source-secret').textContent()) ?? ''
    expect(token.length).toBeGreaterThan(10)
    await page.getByTestId('source-row').filter({ hasText: 'Acme platform' }).waitFor()
    const sources = (await call<{ items: any[] }>('GET', '/api/sources')).body.items
    expect(sources).toEqual([expect.objectContaining({ name: 'Acme platform', auth: 'token', ipAllow: ['127.0.0.1', '10.0.0.0/8'] })])
    expect(JSON.stringify(sources)).not.toContain(token)

    await page.getByTestId('nav-audit').click()
    await page.getByTestId('audit-row').first().waitFor()
    expect(await page.getByTestId('audit-row').count()).toBeGreaterThanOrEqual(4)
    await page.getByTestId('audit-verify').click()
    await expect.poll(() => page.getByTestId('audit-result').textContent(), { timeout: 10_000 }).toMatch(/^\s*OK · \d+ records/)
  }, 30_000)

  it('the event log shows a new click without a reload', async () => {
    await page.getByTestId('nav-links').click()
    await pickAffiliate(page, 'link-affiliate', 'Spring Partner')
    await page.getByTestId('link-offer').selectOption({ label: 'Spring Promo' })
    await page.getByTestId('link-code').fill('op-spring')
    await page.getByTestId('link-create').click()
    const row = page.locator('[data-testid=link-row][data-code=op-spring]')
    await row.waitFor()
    expect(await row.getByTestId('link-url').textContent()).toBe(`${app.url}/c/op-spring`)

    await page.getByTestId('nav-events').click()
    await page.getByTestId('filter-kind').selectOption('click')
    await expect.poll(() => page.getByTestId('events').textContent()).toContain('No events match.')
    let loads = 0
    page.on('load', () => loads++)
    const r = await click(`${app.url}/c/op-spring`)
    expect(r.status).toBe(302)
    expect(r.headers.get('location')).toMatch(/^https:\/\/acme\.example\/\?c=/)
    await page.locator('[data-testid=event-row][data-kind=click]').first().waitFor({ timeout: 15_000 })
    expect(await page.getByTestId('event-row').count()).toBe(1)
    expect(loads).toBe(0)
  }, 30_000)

  let affPage: Page
  it("an affiliate builds a link to the offer's landing page in the portal", async () => {
    const t = await call<{ token: string }>('POST', `/api/affiliates/${affiliate.id}/tokens`, {})
    expect(t.status).toBe(201)
    // A context of its own: its own localStorage, so its own credential.
    affPage = await (await browser.newContext()).newPage()
    await signIn(affPage, t.body.token)
    expect(await affPage.getByTestId('nav-brands').count()).toBe(0)

    await affPage.getByTestId('nav-builder').click()
    await affPage.getByTestId('builder-offer').selectOption({ label: 'Spring Promo' })
    await affPage.getByTestId('builder-landing').selectOption('spring')
    await affPage.getByTestId('builder-sub1').fill('fb-camp')
    await affPage.getByTestId('builder-create').click()
    await affPage.getByTestId('builder-url').waitFor()
    const url = (await affPage.getByTestId('builder-url').textContent()) ?? ''
    const code = url.match(new RegExp(`^${app.url.replace(/[.]/g, '\\.')}/c/([A-Za-z0-9_-]+)$`))?.[1]
    expect(code, url).toBeTruthy()
    await affPage.locator(`[data-testid=my-link-row][data-code="${code}"]`).waitFor()
    // The sub-id preview appends the sub-ids to the link's URL.
    await affPage.getByTestId('preview-sub2').fill('x y')
    await expect.poll(() => affPage.getByTestId('preview-url').textContent()).toBe(`${url}?sub2=x+y`)

    const links = (await api(app.url, t.body.token)<{ items: any[] }>('GET', '/api/links')).body.items
    // Its own links: the one the operator made for it, and this one.
    expect(links.map((l) => l.code)).toEqual(['op-spring', code])
    expect(links[1]).toMatchObject({ affiliateId: affiliate.id, offerId: offer.id, landingPageId: 'spring', subs: { sub1: 'fb-camp' }, status: 'active' })
    expect(await affPage.getByTestId('my-link-row').count()).toBe(2)
    const r = await click(url)
    expect(r.status).toBe(302)
    expect(r.headers.get('location')).toMatch(/^https:\/\/acme\.example\/spring\?c=/)
  }, 30_000)

  it('an affiliate registers an outbound endpoint and test-fires it', async () => {
    await affPage.getByTestId('nav-postbacks').click()
    await affPage.getByTestId('endpoint-url').fill(`${base}/pb?e={event}&c={click_id}`)
    await affPage.getByTestId('endpoint-create').click()
    const row = affPage.getByTestId('endpoint-row').filter({ hasText: `${base}/pb` })
    await row.waitFor()
    await row.getByTestId('endpoint-test').click()
    await expect.poll(() => affPage.getByTestId('test-url').textContent()).toBe(`${base}/pb?e=ftd&c=TEST_CLICK_ID`)
    await waitFor(
      'the test postback',
      async () => hits,
      (h) => h.some((p) => p === '/pb?e=ftd&c=TEST_CLICK_ID'),
      15_000,
    )
    // The result shows on the row by itself: no refresh.
    await affPage.locator('[data-testid=test-result][data-phase=delivered]').waitFor({ timeout: 20_000 })
    expect(await affPage.getByTestId('test-result').textContent()).toContain('HTTP 200')
    await affPage.locator('[data-testid=attempt-row][data-outcome=delivered]').first().waitFor({ timeout: 20_000 })
    const endpoints = (await call<{ items: any[] }>('GET', '/api/postbacks/endpoints')).body.items
    expect(endpoints).toEqual([expect.objectContaining({ affiliateId: affiliate.id, events: ['ftd'], url: `${base}/pb?e={event}&c={click_id}` })])
  }, 45_000)
})
