/**
 * What a new operator tripped over, driven in real headless Chromium against the embedded
 * app: every create form with every field filled (checked against what the API stored),
 * editing every entity in place (and the change in the audit page), a source's ready
 * postback URLs (pasted as they are, with the token, they are accepted) and its curl example
 * (run as shown), secret rotation with a grace period, test-fire of a chosen kind with its
 * result on the page, searchable affiliate pickers, whole tracking URLs, the event log's
 * date range and affiliate filters, the affiliate's portal (its own words, sub-ids and
 * commission on its conversions, token renewal), and the light theme, favicon and phone header.
 *
 * DASHBOARD_SHOTS=<dir> also writes a screenshot of every screen at 1280 and 390 px wide,
 * light and dark.
 */
import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, spawnApp, waitFor, type RunningApp } from './helpers/app.js'
import { launchChromium, pickAffiliate, signIn } from './helpers/browser.js'
import { tempDir, TEST_SECRETS } from './helpers/config.js'

const dataDir = tempDir('manage')
let app: RunningApp
let call: ReturnType<typeof api>
let browser: Browser
let ctx: BrowserContext
let page: Page
let server: Server
let base: string
const hits: string[] = []
/** the token of the source the create form made, as the operator copied it */
let sourceToken = ''

type Any = Record<string, any>
const items = async (path: string): Promise<Any[]> => (await call<{ items: Any[] }>('GET', path)).body.items
const byName = async (path: string, name: string) => (await items(path)).find((x) => x.name === name)!

/** A link made a moment ago reaches the click path through a KV watch: retry a 404 briefly. */
async function fetchSoon(url: string, init: RequestInit = {}): Promise<Response> {
  for (let i = 0; ; i++) {
    const r = await fetch(url, { redirect: 'manual', ...init })
    if (r.status !== 404 || i >= 50) return r
    await new Promise((res) => setTimeout(res, 100))
  }
}

/** Open a tab, its lists loaded afresh (from another tab first when it is open already). */
async function go(p: Page, tab: string) {
  const nav = p.getByTestId(`nav-${tab}`)
  // The tabs come with whoami; on a phone the navigation is folded behind the Menu button.
  await nav.waitFor({ state: 'attached' })
  if (tab !== 'overview' && (await nav.getAttribute('aria-current')) === 'page') await go(p, 'overview')
  if (!(await nav.isVisible())) await p.getByTestId('menu').click()
  await nav.click()
}

/** Save the open edit form of a row: fails with the form's error, if it shows one. */
async function saveEdit(p: Page, row: ReturnType<Page['locator']>) {
  await p.getByTestId('edit-save').click()
  await p.locator('[data-testid=edit-error], [data-testid=saved]').first().waitFor()
  const err = p.getByTestId('edit-error')
  expect((await err.count()) ? await err.textContent() : '').toBe('')
  await row.getByTestId('saved').waitFor()
}

/** The audit page shows the latest change of an entity: returns its row's text. */
async function auditTop(p: Page, entity: string, key: string | number): Promise<string> {
  await go(p, 'audit')
  await p.getByTestId('audit-entity').selectOption(entity)
  const row = p.getByTestId('audit-row').filter({ hasText: `${entity} ${key}` }).first()
  await row.waitFor()
  return (await row.textContent()) ?? ''
}

beforeAll(async () => {
  server = createServer((req, res) => {
    hits.push(req.url ?? '')
    res.writeHead(req.url?.startsWith('/fail') ? 500 : 200).end('OK')
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  execFileSync('npm', ['run', 'build', '--silent'], { stdio: 'ignore' })
  app = await spawnApp({
    env: { DATA_DIR: dataDir, ...TEST_SECRETS, PROCESSOR_BATCH_WAIT_MS: '50', POSTBACK_ALLOW_PRIVATE: 'true', POSTBACK_RETRY_BASE_MS: '100' },
  })
  call = api(app.url, TEST_SECRETS.OPERATOR_API_KEY)
  browser = await launchChromium()
  ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  page = await ctx.newPage()
  await signIn(page, app.url, TEST_SECRETS.OPERATOR_API_KEY)
}, 180_000)

afterAll(async () => {
  await browser?.close()
  await app?.stop()
  server?.close()
  rmSync(dataDir, { recursive: true, force: true })
})

describe('create forms', () => {
  it('every field of every create form reaches the API', async () => {
    await go(page, 'brands')
    await page.getByTestId('brand-name').fill('Lucky Spins')
    await page.getByTestId('brand-url').fill('https://luckyspins.example')
    await page.getByTestId('brand-create').click()
    await page.getByTestId('brand-row').filter({ hasText: 'Lucky Spins' }).waitFor()
    const brand = await byName('/api/brands', 'Lucky Spins')
    expect(brand).toMatchObject({ url: 'https://luckyspins.example', status: 'active' })

    await go(page, 'offers')
    await page.getByTestId('offer-name').fill('Welcome bonus')
    await page.getByTestId('offer-brand').selectOption({ label: 'Lucky Spins' })
    await page.getByTestId('offer-destination').fill('https://luckyspins.example/welcome?cid={click_id}')
    for (const [id, name] of [
      ['spring', 'Spring page'],
      ['vip', 'VIP page'],
    ]) {
      await page.getByTestId('offer-landing-add').click()
      await page.getByTestId('offer-landing-id').last().fill(id!)
      await page.getByTestId('offer-landing-name').last().fill(name!)
      await page.getByTestId('offer-landing-url').last().fill(`https://luckyspins.example/${id}?cid={click_id}`)
    }
    await page.getByTestId('offer-markets').fill('de, at')
    await page.getByTestId('offer-hosts').fill('luckyspins.example, *.luckyspins.example')
    // the field that failed with "W(...).trim is not a function": a number input
    await page.getByTestId('offer-window').fill('14')
    await page.getByTestId('offer-create').click()
    await page.getByTestId('offer-row').filter({ hasText: 'Welcome bonus' }).waitFor()
    expect(await page.getByTestId('offer-error').count()).toBe(0)
    const offer = await byName('/api/offers', 'Welcome bonus')
    expect(offer).toMatchObject({
      brandId: brand.id,
      destination: 'https://luckyspins.example/welcome?cid={click_id}',
      landingPages: [
        { id: 'spring', name: 'Spring page', url: 'https://luckyspins.example/spring?cid={click_id}' },
        { id: 'vip', name: 'VIP page', url: 'https://luckyspins.example/vip?cid={click_id}' },
      ],
      markets: ['DE', 'AT'],
      deepLinkHosts: ['luckyspins.example', '*.luckyspins.example'],
      attributionWindowDays: 14,
      status: 'active',
    })

    await go(page, 'affiliates')
    await page.getByTestId('affiliate-name').fill('Parent Network')
    await page.getByTestId('affiliate-create').click()
    await page.getByTestId('affiliate-row').filter({ hasText: 'Parent Network' }).waitFor()
    await page.getByTestId('affiliate-name').fill('Casino Guru Media')
    await page.getByTestId('affiliate-email').fill('partners@cgm.example')
    await page.getByTestId('affiliate-manager').fill('Mia')
    await pickAffiliate(page, 'affiliate-parent', 'Parent Net')
    await page.getByTestId('affiliate-group').fill('vip')
    await page.getByTestId('affiliate-create').click()
    await page.getByTestId('affiliate-row').filter({ hasText: 'Casino Guru Media' }).waitFor()
    const parent = await byName('/api/affiliates', 'Parent Network')
    const aff = await byName('/api/affiliates', 'Casino Guru Media')
    expect(aff).toMatchObject({ email: 'partners@cgm.example', manager: 'Mia', parentId: parent.id, group: 'vip', status: 'active' })

    await go(page, 'links')
    await pickAffiliate(page, 'link-affiliate', 'Casino Guru')
    await page.getByTestId('link-offer').selectOption({ label: 'Welcome bonus' })
    await page.getByTestId('link-landing').selectOption('vip')
    await page.getByTestId('link-code').fill('cgm-welcome')
    await page.getByTestId('link-destination').fill('https://luckyspins.example/own?cid={click_id}')
    for (const k of ['sub1', 'sub2', 'sub3', 'sub4', 'sub5']) await page.getByTestId(`link-${k}`).fill(`${k}-value`)
    await page.getByTestId('link-markets').fill('de')
    await page.getByTestId('link-geo').selectOption('redirect')
    await page.getByTestId('link-geo-url').fill('https://luckyspins.example/not-here')
    await page.getByTestId('link-create').click()
    await page.locator('[data-testid=link-row][data-code=cgm-welcome]').waitFor()
    const link = (await items('/api/links?limit=1000')).find((l) => l.code === 'cgm-welcome')
    expect(link).toMatchObject({
      affiliateId: aff.id,
      offerId: offer.id,
      destination: 'https://luckyspins.example/own?cid={click_id}',
      landingPageId: 'vip',
      subs: { sub1: 'sub1-value', sub2: 'sub2-value', sub3: 'sub3-value', sub4: 'sub4-value', sub5: 'sub5-value' },
      markets: ['DE'],
      geo: { outside: 'redirect', redirectUrl: 'https://luckyspins.example/not-here' },
    })

    await go(page, 'sources')
    await page.getByTestId('source-name').fill('Lucky Spins platform')
    await page.getByTestId('source-auth').selectOption('token')
    await page.getByTestId('source-ipallow').fill('127.0.0.1, 10.0.0.0/8')
    await page.getByTestId('source-mapping-open').click()
    await page.getByTestId('source-field-player_id').fill('userid')
    await page.getByTestId('source-field-event').fill('type')
    await page.getByTestId('source-field-event_id').fill('txn')
    await page.getByTestId('source-event-registration').fill('signup')
    await page.getByTestId('source-event-ftd').fill('first_dep')
    await page.getByTestId('source-event-deposit').fill('dep, redeposit')
    await page.getByTestId('source-create').click()
    await page.getByTestId('source-secret-box').waitFor()
    sourceToken = (await page.getByTestId('source-secret').textContent())!
    const src = await byName('/api/sources', 'Lucky Spins platform')
    expect(src).toMatchObject({
      auth: 'token',
      ipAllow: ['127.0.0.1', '10.0.0.0/8'],
      fieldMap: { player_id: 'userid', event: 'type', event_id: 'txn' },
      eventMap: { signup: 'registration', first_dep: 'ftd', dep: 'deposit', redeposit: 'deposit' },
    })
    // shown on its row, not as "0 fields, 0 events"
    const mappings = await page.locator(`[data-testid=source-row][data-id="${src.id}"] [data-testid=source-mappings]`).textContent()
    expect(mappings).toContain('userid → player_id')
    expect(mappings).toContain('first_dep → ftd')

    await go(page, 'postbacks')
    await pickAffiliate(page, 'endpoint-affiliate', 'Casino Guru')
    await page.getByTestId('endpoint-url').fill(`${base}/cgm?e={event}&c={click_id}&a={amount}`)
    await page.getByTestId('endpoint-event-registration').check()
    await page.getByTestId('endpoint-event-deposit').check()
    await page.getByTestId('endpoint-create').click()
    await page.getByTestId('endpoint-row').filter({ hasText: `${base}/cgm` }).waitFor()
    const eps = await items('/api/postbacks/endpoints')
    expect(eps).toEqual([expect.objectContaining({ affiliateId: aff.id, url: `${base}/cgm?e={event}&c={click_id}&a={amount}`, status: 'active' })])
    expect([...eps[0]!.events].sort()).toEqual(['deposit', 'ftd', 'registration'])
  }, 90_000)
})

describe('edit in place', () => {
  it('brands, offers and affiliates: the change is stored and shows in the audit page', async () => {
    const brand = await byName('/api/brands', 'Lucky Spins')
    await go(page, 'brands')
    const bRow = page.locator(`[data-testid=brand-row][data-id="${brand.id}"]`)
    await bRow.getByTestId('edit').click()
    await page.getByTestId('brand-edit-name').fill('Lucky Spins Casino')
    await page.getByTestId('brand-edit-url').fill('')
    await saveEdit(page, bRow)
    const b2 = (await items('/api/brands')).find((b) => b.id === brand.id)!
    expect(b2.name).toBe('Lucky Spins Casino')
    expect(b2.url).toBeUndefined()
    expect(await auditTop(page, 'brand', brand.id)).toContain('Lucky Spins Casino')

    const offer = await byName('/api/offers', 'Welcome bonus')
    await go(page, 'offers')
    const oRow = page.locator(`[data-testid=offer-row][data-id="${offer.id}"]`)
    await oRow.getByTestId('edit').click()
    const form = page.getByTestId('edit-form')
    expect(await form.getByTestId('offer-edit-window').inputValue()).toBe('14')
    await form.getByTestId('offer-edit-landing-add').click()
    await form.getByTestId('offer-edit-landing-id').last().fill('summer')
    await form.getByTestId('offer-edit-landing-name').last().fill('Summer page')
    await form.getByTestId('offer-edit-landing-url').last().fill('https://luckyspins.example/summer?cid={click_id}')
    await form.getByTestId('offer-edit-markets').fill('DE, AT, CH')
    await form.getByTestId('offer-edit-hosts').fill('*.luckyspins.example')
    await form.getByTestId('offer-edit-window').fill('21')
    await saveEdit(page, oRow)
    const o2 = (await items('/api/offers')).find((o) => o.id === offer.id)!
    expect(o2).toMatchObject({ markets: ['DE', 'AT', 'CH'], deepLinkHosts: ['*.luckyspins.example'], attributionWindowDays: 21 })
    expect(o2.landingPages.map((p: Any) => p.id)).toEqual(['spring', 'vip', 'summer'])
    // and the window can be cleared again
    await oRow.getByTestId('edit').click()
    await page.getByTestId('offer-edit-window').fill('')
    await saveEdit(page, oRow)
    expect((await items('/api/offers')).find((o) => o.id === offer.id)!.attributionWindowDays).toBeUndefined()
    expect(await auditTop(page, 'offer', offer.id)).toContain('summer')

    const aff = await byName('/api/affiliates', 'Casino Guru Media')
    const other = (await call('POST', '/api/affiliates', { name: 'Other Parent Ltd' })).body
    await go(page, 'affiliates')
    const aRow = page.locator(`[data-testid=affiliate-row][data-id="${aff.id}"]`)
    await aRow.getByTestId('edit').click()
    await expect.poll(() => page.getByTestId('affiliate-edit-parent').inputValue()).toBe('Parent Network')
    await page.getByTestId('affiliate-edit-email').fill('team@cgm.example')
    await page.getByTestId('affiliate-edit-manager').fill('')
    await pickAffiliate(page, 'affiliate-edit-parent', 'Other Parent')
    // a group emptied is cleared
    expect(await page.getByTestId('affiliate-edit-group').inputValue()).toBe('vip')
    await page.getByTestId('affiliate-edit-group').fill('')
    await saveEdit(page, aRow)
    const a2 = (await items('/api/affiliates')).find((a) => a.id === aff.id)!
    expect(a2).toMatchObject({ email: 'team@cgm.example', parentId: other.id })
    expect(a2.manager).toBeUndefined()
    expect(a2.group).toBeUndefined()
    expect(a2.groupHistory?.map((h: { group: string | null }) => h.group)).toEqual(['vip', null])
    expect(await auditTop(page, 'affiliate', aff.id)).toContain('team@cgm.example')
  }, 90_000)

  it('links: destination, landing page, sub-ids, markets, geo rule; the change shows in the audit page', async () => {
    const link = (await items('/api/links?limit=1000')).find((l) => l.code === 'cgm-welcome')!
    await go(page, 'links')
    const lRow = page.locator(`[data-testid=link-row][data-id="${link.id}"]`)
    await lRow.getByTestId('edit').click()
    const form = page.getByTestId('edit-form')
    await form.getByTestId('link-edit-destination').fill('https://luckyspins.example/changed?cid={click_id}')
    await form.getByTestId('link-edit-landing').selectOption('spring')
    await form.getByTestId('link-edit-sub2').fill('')
    await form.getByTestId('link-edit-sub1').fill('newsletter')
    await form.getByTestId('link-edit-markets').fill('at')
    await form.getByTestId('link-edit-geo').selectOption('block')
    await saveEdit(page, lRow)
    const l2 = (await items('/api/links?limit=1000')).find((l) => l.id === link.id)!
    expect(l2).toMatchObject({
      destination: 'https://luckyspins.example/changed?cid={click_id}',
      landingPageId: 'spring',
      subs: { sub1: 'newsletter', sub3: 'sub3-value', sub4: 'sub4-value', sub5: 'sub5-value' },
      markets: ['AT'],
      geo: { outside: 'block' },
    })
    expect(l2.subs.sub2).toBeUndefined()
    expect(await auditTop(page, 'link', link.id)).toContain('newsletter')
  }, 60_000)

  it('postback sources: name, allow-list and mappings; the change shows in the audit page', async () => {
    const src = (await items('/api/sources')).find((s) => s.name.startsWith('Lucky Spins'))!
    await go(page, 'sources')
    const sRow = page.locator(`[data-testid=source-row][data-id="${src.id}"]`)
    await sRow.getByTestId('edit').click()
    // the stored mappings are in the form
    expect(await page.getByTestId('source-edit-field-player_id').inputValue()).toBe('userid')
    expect(await page.getByTestId('source-edit-event-deposit').inputValue()).toBe('dep, redeposit')
    await page.getByTestId('source-edit-name').fill('Lucky Spins PAM')
    await page.getByTestId('source-edit-ipallow').fill('127.0.0.1')
    await page.getByTestId('source-edit-field-amount').fill('sum')
    await page.getByTestId('source-edit-event-deposit').fill('dep')
    await saveEdit(page, sRow)
    const s2 = (await items('/api/sources')).find((s) => s.id === src.id)!
    expect(s2).toMatchObject({
      name: 'Lucky Spins PAM',
      ipAllow: ['127.0.0.1'],
      fieldMap: { player_id: 'userid', event: 'type', event_id: 'txn', amount: 'sum' },
      eventMap: { signup: 'registration', first_dep: 'ftd', dep: 'deposit' },
    })
    expect(await auditTop(page, 'source', src.id)).toContain('Lucky Spins PAM')
  }, 60_000)

  it('endpoints: events, URL, pause; the change shows in the audit page', async () => {
    const ep = (await items('/api/postbacks/endpoints'))[0]!
    await go(page, 'postbacks')
    const eRow = page.locator(`[data-testid=endpoint-row][data-id="${ep.id}"]`)
    await eRow.getByTestId('edit').click()
    await page.getByTestId('endpoint-edit-url').fill(`${base}/cgm2?e={event}&s={sub1}`)
    await page.getByTestId('endpoint-edit-event-deposit').uncheck()
    await page.getByTestId('endpoint-edit-event-withdrawal').check()
    await saveEdit(page, eRow)
    await eRow.getByRole('button', { name: 'Pause' }).click()
    await eRow.getByText('Paused').waitFor()
    const e2 = (await items('/api/postbacks/endpoints')).find((e) => e.id === ep.id)!
    expect(e2).toMatchObject({ url: `${base}/cgm2?e={event}&s={sub1}`, status: 'paused' })
    expect([...e2.events].sort()).toEqual(['ftd', 'registration', 'withdrawal'])
    expect(await auditTop(page, 'endpoint', ep.id)).toContain('paused')
    await go(page, 'postbacks')
    await eRow.getByRole('button', { name: 'Activate' }).click()
    await eRow.getByText('Active').waitFor()
  }, 90_000)

  it("a source's secret is rotated with the grace period the operator picks", async () => {
    const src = (await items('/api/sources')).find((s) => s.name.startsWith('Lucky Spins'))!
    await go(page, 'sources')
    const sRow = page.locator(`[data-testid=source-row][data-id="${src.id}"]`)
    await sRow.getByTestId('source-rotate').click()
    await page.getByTestId('rotate-grace').fill('48')
    const before = Date.now()
    await page.getByTestId('rotate-confirm').click()
    await page.getByTestId('source-previous-until').waitFor()
    const token = (await page.getByTestId('source-secret').textContent())!
    expect(token.length).toBeGreaterThan(10)
    // the operator keeps the new token (the ready-URL test below pastes it)
    sourceToken = token
    expect(await page.getByTestId('source-previous-until').textContent()).toContain('keeps working until')
    const s2 = (await items('/api/sources')).find((s) => s.id === src.id)!
    const until = Date.parse(s2.previousValidUntil)
    expect(until).toBeGreaterThanOrEqual(before + 48 * 3_600_000 - 5_000)
    expect(until).toBeLessThanOrEqual(Date.now() + 48 * 3_600_000 + 5_000)
    await sRow.getByTestId('source-grace').waitFor()
    // the new token works
    const r = await fetch(`${app.url}/postback?source=${src.id}&token=${token}&type=signup&txn=rot-1&userid=rot-player`)
    expect(r.status).toBe(200)
  }, 60_000)
})

describe('postback source setup', () => {
  it('shows a ready URL per event kind; pasted with the token and filled in, it is accepted', async () => {
    const src = (await items('/api/sources')).find((s) => s.name.startsWith('Lucky Spins'))!
    // the token the operator kept: from the creation, or the rotation since
    const token = sourceToken
    await go(page, 'sources')
    const sRow = page.locator(`[data-testid=source-row][data-id="${src.id}"]`)
    await sRow.getByTestId('source-setup').click()
    const panel = page.getByTestId('source-setup-panel')
    await panel.waitFor()
    expect(await panel.getByTestId('ready-url-row').count()).toBe(13)
    const reg = (await panel.locator('[data-testid=ready-url-row][data-kind=registration] [data-testid=ready-url]').textContent())!
    expect(reg).toBe(`${app.url}/postback?source=${src.id}&token=YOUR_TOKEN&type=signup&txn={event_id}&userid={player_id}&click_id={click_id}`)
    const ftd = (await panel.locator('[data-testid=ready-url-row][data-kind=ftd] [data-testid=ready-url]').textContent())!
    expect(ftd).toContain('type=first_dep')
    expect(ftd).toContain('userid={player_id}')

    // what the platform does with it: its token pasted in, the placeholders filled
    const aff = await byName('/api/affiliates', 'Casino Guru Media')
    expect((await call('POST', '/api/links', { affiliateId: aff.id, destination: 'https://luckyspins.example/?cid={click_id}', code: 'cgm-plain' })).status).toBe(201)
    const click = await fetchSoon(`${app.url}/c/cgm-plain`)
    const clickId = new URL(click.headers.get('location')!).searchParams.get('cid')!
    const values: Record<string, string> = { event_id: 'reg-77', player_id: 'player-77', click_id: clickId, amount: '100.00', currency: 'EUR' }
    const fill = (u: string) => u.replace('YOUR_TOKEN', token).replace(/\{(\w+)\}/g, (_, f: string) => encodeURIComponent(values[f]!))
    const r1 = await fetch(fill(reg))
    expect(r1.status, await r1.clone().text()).toBe(200)
    values.event_id = 'ftd-77'
    const r2 = await fetch(fill(ftd))
    expect(r2.status, await r2.clone().text()).toBe(200)
    const rows = await waitFor(
      'the two events',
      async () => (await items('/api/events?limit=100')).filter((e) => e.eventId === `${src.id}:reg-77` || e.eventId === `${src.id}:ftd-77`),
      (r) => r.length === 2,
      20_000,
    )
    expect(rows.map((r) => r.status)).toEqual(['attributed', 'attributed'])

    // the curl example, run as shown (the token pasted in)
    await panel.getByTestId('curl-kind').selectOption('deposit')
    const curl = (await panel.getByTestId('curl-example').textContent())!
    expect(curl).toMatch(/^curl "/)
    const out = execFileSync('bash', ['-c', curl.replace('YOUR_TOKEN', token)], { encoding: 'utf8' })
    expect(JSON.parse(out)).toMatchObject({ status: 'accepted', event: 'deposit' })
  }, 60_000)

  it('an HMAC source: the curl example signs the request and is accepted', async () => {
    const created = (await call('POST', '/api/sources', { name: 'Signed platform', auth: 'hmac' })).body
    await go(page, 'sources')
    const sRow = page.locator(`[data-testid=source-row][data-id="${created.id}"]`)
    await sRow.getByTestId('source-setup').click()
    const panel = page.getByTestId('source-setup-panel')
    expect(await panel.locator('[data-testid=ready-url-row][data-kind=deposit] [data-testid=ready-url]').textContent()).not.toContain('token')
    await panel.getByTestId('curl-kind').selectOption('deposit')
    const curl = (await panel.getByTestId('curl-example').textContent())!
    const out = execFileSync('bash', ['-c', curl], { encoding: 'utf8', env: { ...process.env, HMAC_SECRET: created.secret } })
    expect(JSON.parse(out)).toMatchObject({ status: 'accepted', event: 'deposit' })
  }, 30_000)
})

describe('test-fire', () => {
  it('sends the chosen kind and shows delivered or failed on the page by itself', async () => {
    const aff = await byName('/api/affiliates', 'Casino Guru Media')
    await call('POST', '/api/postbacks/endpoints', { affiliateId: aff.id, events: ['ftd', 'deposit'], url: `${base}/tf?e={event}&a={amount}&c={currency}` })
    await call('POST', '/api/postbacks/endpoints', { affiliateId: aff.id, events: ['registration'], url: `${base}/fail?e={event}` })
    await go(page, 'postbacks')
    const ok = page.getByTestId('endpoint-row').filter({ hasText: `${base}/tf` })
    await ok.getByTestId('endpoint-test-kind').selectOption('deposit')
    await ok.getByTestId('endpoint-test').click()
    await ok.locator('[data-testid=test-result][data-phase=delivered]').waitFor({ timeout: 20_000 })
    expect(await ok.getByTestId('test-result').textContent()).toContain('HTTP 200')
    expect(hits.some((h) => h.startsWith('/tf?e=deposit&a='))).toBe(true)

    const bad = page.getByTestId('endpoint-row').filter({ hasText: `${base}/fail` })
    await bad.getByTestId('endpoint-test').click()
    await bad.locator('[data-testid=test-result][data-phase=failed]').waitFor({ timeout: 20_000 })
    expect(await bad.getByTestId('test-result').textContent()).toContain('HTTP 500')
  }, 60_000)
})

describe('pickers, URLs and the event log', () => {
  it('a tracking URL is shown whole, wrapped, at any width', async () => {
    const aff = await byName('/api/affiliates', 'Casino Guru Media')
    const code = 'a-very-long-tracking-code-for-the-spring-newsletter-2026'
    expect((await call('POST', '/api/links', { affiliateId: aff.id, destination: 'https://luckyspins.example/?c={click_id}', code })).status).toBe(201)
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: 900 })
      await go(page, 'links')
      const url = page.locator(`[data-testid=link-row][data-code="${code}"] [data-testid=link-url]`)
      await url.waitFor()
      expect(await url.textContent()).toBe(`${app.url}/c/${code}`)
      // nothing cut: the box is as wide as its text needs, inside the page
      const fit = await url.evaluate((el) => ({ scroll: el.scrollWidth, client: el.clientWidth }))
      expect(fit.scroll).toBeLessThanOrEqual(fit.client)
    }
    await page.setViewportSize({ width: 1280, height: 900 })
  }, 30_000)

  it('filters by affiliate name and by date range', async () => {
    const other = (await call('POST', '/api/affiliates', { name: 'Zeta Traffic' })).body
    expect((await call('POST', '/api/links', { affiliateId: other.id, destination: 'https://luckyspins.example/?c={click_id}', code: 'zeta-1' })).status).toBe(201)
    expect((await fetchSoon(`${app.url}/c/zeta-1`)).status).toBe(302)
    await waitFor('zeta click', () => items(`/api/events?affiliateId=${other.id}`), (r) => r.length === 1, 20_000)

    await go(page, 'events')
    await page.getByTestId('events-live').uncheck()
    await pickAffiliate(page, 'filter-affiliate', 'Zeta')
    await expect.poll(() => page.getByTestId('event-row').count()).toBe(1)
    expect(await page.getByTestId('event-row').first().textContent()).toContain('Zeta Traffic')

    const day = (d: number) => {
      const t = new Date(Date.now() + d * 86_400_000)
      return `${t.getFullYear()}-${String(t.getMonth() + 1).padStart(2, '0')}-${String(t.getDate()).padStart(2, '0')}`
    }
    await page.getByTestId('filter-from').fill(day(1))
    await page.getByTestId('filter-from').dispatchEvent('change')
    await expect.poll(() => page.getByTestId('events').textContent()).toContain('No events match.')
    await page.getByTestId('filter-from').fill(day(0))
    await page.getByTestId('filter-from').dispatchEvent('change')
    await page.getByTestId('filter-to').fill(day(0))
    await page.getByTestId('filter-to').dispatchEvent('change')
    await expect.poll(() => page.getByTestId('event-row').count()).toBe(1)
    await page.getByTestId('filter-to').fill(day(-1))
    await page.getByTestId('filter-from').fill('')
    await page.getByTestId('filter-to').dispatchEvent('change')
    await expect.poll(() => page.getByTestId('events').textContent()).toContain('No events match.')
  }, 60_000)
})

describe("the affiliate's portal", () => {
  let affPage: Page
  let aff: Any
  it('speaks to the affiliate: its overview, human labels, sub-ids and commission on its conversions', async () => {
    aff = await byName('/api/affiliates', 'Casino Guru Media')
    expect((await call('POST', '/api/deals/cpa', { affiliateId: aff.id, amount: '50.00', currency: 'EUR' })).status).toBe(201)
    const src = (await call('POST', '/api/sources', { name: 'Portal test platform' })).body
    expect((await call('POST', '/api/links', { affiliateId: aff.id, destination: 'https://luckyspins.example/?c={click_id}', code: 'cgm-subs' })).status).toBe(201)
    const click = await fetchSoon(`${app.url}/c/cgm-subs?sub1=fb-ad-7&sub2=story`)
    const clickId = new URL(click.headers.get('location')!).searchParams.get('c')!
    const pb = (q: string) => fetch(`${app.url}/postback?source=${src.id}&token=${src.token}&${q}`)
    expect((await pb(`event=registration&event_id=p-reg-1&player_id=pp-1&click_id=${clickId}`)).status).toBe(200)
    expect((await pb('event=ftd&event_id=p-ftd-1&player_id=pp-1&amount=100.00&currency=EUR')).status).toBe(200)
    await waitFor('the FTD', () => items(`/api/events?affiliateId=${aff.id}&kind=ftd`), (r) => r.some((e) => e.eventId === `${src.id}:p-ftd-1`), 20_000)

    const t = (await call('POST', `/api/affiliates/${aff.id}/tokens`, { ttlDays: 30 })).body
    affPage = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage()
    await signIn(affPage, app.url, t.token)
    await expect.poll(() => affPage.getByTestId('page-title').textContent()).toContain('Your overview')
    expect(await affPage.getByTestId('unattributed-tile').count()).toBe(0)
    expect(await affPage.locator('body').textContent()).not.toMatch(/Unattributed/)

    // the CPA is written by the affiliate stage just after the FTD's row: wait for it to show
    const ftd = affPage.locator('[data-testid=event-row][data-event-id$=":p-ftd-1"]')
    for (let i = 0; ; i++) {
      await go(affPage, 'events')
      await ftd.waitFor()
      if (/50\.00/.test((await ftd.getByTestId('event-commission').textContent()) ?? '') || i >= 20) break
      await affPage.waitForTimeout(250)
    }
    expect(await ftd.getByTestId('event-status').textContent()).toContain('Credited')
    expect(await ftd.getByTestId('event-status').textContent()).toContain('First deposit')
    expect(await ftd.getByTestId('event-subs').textContent()).toBe('sub1=fb-ad-7 sub2=story')
    expect(await ftd.getByTestId('event-commission').textContent()).toMatch(/50\.00/)
    const reg = affPage.locator('[data-testid=event-row][data-event-id$=":p-reg-1"]')
    expect(await reg.getByTestId('event-subs').textContent()).toBe('sub1=fb-ad-7 sub2=story')
    expect(await reg.getByTestId('event-status').textContent()).toContain('Player signed up through your link')
    // no internal code on the page
    const text = (await affPage.locator('table[data-testid=events]').textContent()) ?? ''
    for (const code of ['no_deal', 'bound_player', 'attributed', 'registered', 'cpa']) expect(text).not.toMatch(new RegExp(`\\b${code}\\b`))
  }, 90_000)

  it('shows when the portal token expires, and renews it in its last week and on demand', async () => {
    const t = (await call('POST', `/api/affiliates/${aff.id}/tokens`, { ttlDays: 3 })).body
    const p = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage()
    await signIn(p, app.url, t.token)
    // three days left: it renews itself and keeps the new token
    await expect.poll(async () => Number(await p.getByTestId('access-until').getAttribute('data-ms')), { timeout: 15_000 }).toBeGreaterThan(Date.now() + 20 * 86_400_000)
    const kept = await p.evaluate(() => localStorage.getItem('amp.credential'))
    expect(kept).not.toBe(t.token)
    expect((await api(app.url, kept!)('GET', '/api/whoami')).body).toMatchObject({ kind: 'affiliate', affiliateId: aff.id })
    // on demand
    await p.getByTestId('access-renew').click()
    await expect.poll(() => p.evaluate(() => localStorage.getItem('amp.credential'))).not.toBe(kept)
    expect(await p.getByTestId('access-error').count()).toBe(0)
    // a token with a month left is left alone
    const month = (await call('POST', `/api/affiliates/${aff.id}/tokens`, { ttlDays: 30 })).body
    const q = await (await browser.newContext()).newPage()
    await signIn(q, app.url, month.token)
    await q.getByTestId('access-until').waitFor()
    await q.waitForTimeout(1000)
    expect(await q.evaluate(() => localStorage.getItem('amp.credential'))).toBe(month.token)
  }, 60_000)
})

describe('look and fit', () => {
  const OPERATOR_TABS = ['overview', 'brands', 'offers', 'affiliates', 'links', 'sources', 'events', 'postbacks', 'audit']

  /** Header items cut off by the viewport or lying over each other, and a page wider than the screen. */
  const layoutProblems = (p: Page) =>
    p.evaluate(() => {
      const out: string[] = []
      const vw = document.documentElement.clientWidth
      if (document.documentElement.scrollWidth > vw + 1) out.push(`page is ${document.documentElement.scrollWidth}px wide on a ${vw}px screen`)
      const els = [...document.querySelectorAll('header h1, header .status > *, nav button')].filter((e) => (e as HTMLElement).offsetParent !== null)
      const rects = els.map((e) => ({ e: e.textContent?.trim().slice(0, 30), r: e.getBoundingClientRect() }))
      for (const { e, r } of rects) if (r.left < -1 || r.right > vw + 1) out.push(`"${e}" cut: ${Math.round(r.left)}..${Math.round(r.right)}`)
      for (let i = 0; i < rects.length; i++)
        for (let j = i + 1; j < rects.length; j++) {
          const a = rects[i]!.r
          const b = rects[j]!.r
          const w = Math.min(a.right, b.right) - Math.max(a.left, b.left)
          const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top)
          if (w > 1 && h > 1) out.push(`"${rects[i]!.e}" overlaps "${rects[j]!.e}"`)
        }
      return out
    })

  it('follows the colour scheme, has a favicon, and fits a 390 px phone', async () => {
    const bg = async (scheme: 'light' | 'dark') => {
      const c = await browser.newContext({ colorScheme: scheme })
      const p = await c.newPage()
      await signIn(p, app.url, TEST_SECRETS.OPERATOR_API_KEY)
      const v = await p.evaluate(() => getComputedStyle(document.body).backgroundColor)
      await c.close()
      return v
    }
    expect(await bg('light')).toBe('rgb(244, 246, 250)')
    expect(await bg('dark')).toBe('rgb(15, 20, 32)')

    const icon = await page.locator('link[rel=icon]').getAttribute('href')
    const r = await fetch(new URL(icon!, app.url))
    expect(r.status).toBe(200)
    expect(r.headers.get('content-type')).toContain('svg')
    expect(await r.text()).toContain('<svg')

    const phone = await browser.newContext({ viewport: { width: 390, height: 844 } })
    const p = await phone.newPage()
    await signIn(p, app.url, TEST_SECRETS.OPERATOR_API_KEY)
    for (const tab of OPERATOR_TABS) {
      await go(p, tab)
      expect(await layoutProblems(p), tab).toEqual([])
    }
    // the folded menu, open: one item a line, nothing cut
    await p.getByTestId('menu').click()
    expect(await layoutProblems(p)).toEqual([])
    await p.getByTestId('menu').click()
    await phone.close()
  }, 90_000)

  it('screenshots of every screen (with DASHBOARD_SHOTS=<dir>)', async () => {
    const dir = process.env.DASHBOARD_SHOTS
    if (!dir) return
    mkdirSync(dir, { recursive: true })
    const aff = await byName('/api/affiliates', 'Casino Guru Media')
    const token = (await call('POST', `/api/affiliates/${aff.id}/tokens`, { ttlDays: 30 })).body.token
    for (const scheme of ['light', 'dark'] as const)
      for (const width of [1280, 390]) {
        for (const [who, cred, tabs] of [
          ['operator', TEST_SECRETS.OPERATOR_API_KEY, OPERATOR_TABS],
          ['affiliate', token, ['overview', 'builder', 'events', 'postbacks']],
        ] as const) {
          const c = await browser.newContext({ viewport: { width, height: 900 }, colorScheme: scheme })
          const p = await c.newPage()
          await signIn(p, app.url, cred)
          for (const tab of tabs) {
            await go(p, tab)
            await p.waitForTimeout(700)
            if (tab === 'sources') await p.getByTestId('source-setup').first().click()
            if (['offers', 'links', 'affiliates'].includes(tab)) await p.getByTestId('edit').first().click()
            await p.screenshot({ path: join(dir, `${who}-${tab}-${width}-${scheme}.png`), fullPage: true })
          }
          await c.close()
        }
      }
  }, 300_000)
})
