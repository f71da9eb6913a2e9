/**
 * The Settlement view in Debian's Chromium: finance closes a month from the form, watches it
 * become statements, sees what each pays beside what the month accrued live, holds one with a
 * note, approves the rest in bulk, and opens a statement down to its ledger lines; the
 * affiliate sees its own statement, approved, with the same total, and nothing of another's.
 * SETTLEMENT_SHOTS=<dir> writes screenshots of both.
 */
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnEmbedded, waitFor, type EmbeddedApp } from './helpers/app.js'
import { launchChromium, pickAffiliate, signIn } from './helpers/browser.js'
import { TEST_SECRETS } from './helpers/config.js'

let app: EmbeddedApp
let browser: Browser
const SHOTS = process.env.SETTLEMENT_SHOTS
const affs: Record<'cpa' | 'rs', { id: number; name: string }> = {} as never
let token = ''

beforeAll(async () => {
  app = await spawnEmbedded('settlement-view')
  browser = await launchChromium()
  if (SHOTS) mkdirSync(SHOTS, { recursive: true })
  const call = app.call
  const terms = { cpa: { currency: 'EUR', cpa: { amount: '100' } }, rs: { currency: 'EUR', revshare: { bands: [{ from: '0', rate: '0.30' }] } } }
  for (const [k, name] of [
    ['cpa', 'Lambda Media'],
    ['rs', 'Mu Partners'],
  ] as const) {
    affs[k] = (await call('POST', '/api/affiliates', { name })).body
    expect((await call('POST', '/api/deals', { name: `${name} deal`, affiliateId: affs[k].id, effectiveFrom: '2026-01-01T00:00:00Z', terms: terms[k] })).status).toBe(201)
    const code = (await call('POST', '/api/links', { affiliateId: affs[k].id, destination: 'https://brand.example/?cid={click_id}' })).body.code
    const players = k === 'cpa' ? ['l1', 'l2'] : ['m1']
    expect((await call('POST', '/api/import/players', { rows: players.map((p) => ({ player_id: p, link_code: code })) })).status).toBe(200)
  }
  const src = (await call('POST', '/api/sources', { name: 'lambda casino' })).body
  await new Promise((r) => setTimeout(r, 300))
  const post = async (body: Record<string, string>) => {
    const r = await fetch(`${app.url}/postback`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-postback-token': src.token }, body: JSON.stringify({ source: String(src.id), ...body }) })
    expect(r.status, await r.text()).toBe(200)
  }
  for (const p of ['l1', 'l2']) {
    await post({ event: 'registration', event_id: `r-${p}`, player_id: p, occurred_at: '2026-09-03T10:00:00Z' })
    await post({ event: 'ftd', event_id: `f-${p}`, player_id: p, amount: '50', currency: 'EUR', occurred_at: '2026-09-03T11:00:00Z' })
  }
  await post({ event: 'registration', event_id: 'r-m1', player_id: 'm1', occurred_at: '2026-09-04T10:00:00Z' })
  await post({ event: 'activity', event_id: 'a-m1', player_id: 'm1', currency: 'EUR', date: '2026-09-10', bets: '1000.05', wins: '400', occurred_at: '2026-09-10T12:00:00Z' })
  // 2 × 100 EUR; 30% × 600.05 = 180.015 EUR
  await waitFor('the ledger', async () => (await call('GET', '/api/status')).body.affiliateStage.lines, (n: number) => n >= 3, 20_000)
  token = (await call('POST', `/api/affiliates/${affs.cpa.id}/tokens`, {})).body.token
  expect((await call('PUT', `/api/affiliates/${affs.cpa.id}/payment`, { method: 'bank', holder: 'Lambda Media GmbH', iban: 'DE89370400440532013000' })).status).toBe(200)
}, 90_000)

afterAll(async () => {
  await browser?.close()
  await app?.dispose()
})

async function open(page: Page, tab: string) {
  const nav = page.getByTestId(`nav-${tab}`)
  await nav.waitFor({ state: 'attached' })
  if (!(await nav.isVisible())) await page.getByTestId('menu').click()
  await nav.click()
}

const row = (page: Page, aff: number) => page.locator(`[data-testid=statement-row][data-affiliate="${aff}"]`)

describe('the Settlement view', () => {
  it('finance closes September, reviews it beside the live numbers, holds one, approves the rest and opens a statement to its ledger lines', async () => {
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } })
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(String(e)))
    await signIn(page, app.url, TEST_SECRETS.OPERATOR_API_KEY)
    await open(page, 'settlement')
    await page.getByTestId('periods').getByText('No period closed yet.').waitFor()

    // a period not ended yet is refused, with the reason
    await page.getByTestId('close-period').fill(new Date().toISOString().slice(0, 7))
    await page.getByTestId('close-submit').click()
    await page.getByTestId('settlement-error').filter({ hasText: 'closed after it ends' }).waitFor()

    await page.getByTestId('close-period').fill('2026-09')
    await page.getByTestId('close-submit').click()
    await page.getByTestId('settlement-msg').filter({ hasText: '2026-09 is closed: 2 statements.' }).waitFor({ timeout: 30_000 })
    await page.getByTestId('period-row').filter({ hasText: '2026-09' }).waitFor()
    await row(page, affs.cpa.id).waitFor()
    expect(await row(page, affs.cpa.id).getByTestId('statement-payable').textContent()).toMatch(/200\.00/)
    // 180.015 rounds half-even to 180.02 on the statement
    expect(await row(page, affs.rs.id).getByTestId('statement-payable').textContent()).toMatch(/180\.02/)
    expect(await row(page, affs.rs.id).textContent()).toMatch(/Draft/)
    if (SHOTS) await page.screenshot({ path: join(SHOTS, 'settlement-review.png'), fullPage: true })

    // hold one with a note, approve every other draft
    await row(page, affs.rs.id).getByTestId('hold-one').click()
    await page.getByTestId('hold-note').fill('NGR under review')
    await page.getByTestId('hold-submit').click()
    await page.locator(`[data-testid=statement-row][data-affiliate="${affs.rs.id}"][data-status=held]`).waitFor()
    expect(await row(page, affs.rs.id).getByTestId('statement-status').textContent()).toMatch(/Held · NGR under review/)
    await page.getByTestId('approve-all').click()
    await page.getByTestId('settlement-msg').filter({ hasText: '1 statement approved' }).waitFor()
    await page.locator(`[data-testid=statement-row][data-affiliate="${affs.cpa.id}"][data-status=approved]`).waitFor()
    expect(await row(page, affs.rs.id).getAttribute('data-status')).toBe('held')

    // a statement opens to its lines, and each line to its ledger lines
    await row(page, affs.rs.id).getByTestId('statement-open').click()
    await page.getByTestId('drill-line').first().waitFor()
    const drill = (await page.getByTestId('drill-line').allTextContents()).join('\n')
    expect(drill).toMatch(/RevShare 30%/)
    expect(drill).toMatch(/Rounding: the 2026-09 statement's revshare line/)
    if (SHOTS) await page.screenshot({ path: join(SHOTS, 'settlement-statement.png'), fullPage: true })

    // a payout batch of the approved statements paid by bank in euro, then marked paid
    page.on('dialog', (d) => void d.accept())
    await page.getByTestId('payout-create').click()
    await page.getByTestId('settlement-msg').filter({ hasText: '1 payment, €200.00' }).waitFor()
    await page.getByTestId('payout-row').first().waitFor()
    expect(await page.getByTestId('payout-total').first().textContent()).toMatch(/200\.00/)
    await page.getByTestId('payout-paid').click()
    await page.locator('[data-testid=payout-row][data-status=paid]').waitFor()
    await page.locator(`[data-testid=statement-row][data-affiliate="${affs.cpa.id}"][data-status=paid]`).waitFor()
    if (SHOTS) await page.screenshot({ path: join(SHOTS, 'settlement-payout.png'), fullPage: true })

    // a manual adjustment with its reason: a line in the affiliate's ledger
    await pickAffiliate(page, 'adjust-affiliate', 'Mu Partners')
    await page.getByTestId('adjust-amount').fill('-12.50')
    await page.getByTestId('adjust-reason').fill('wire fee')
    await page.getByTestId('adjust-submit').click()
    await page.getByTestId('settlement-msg').filter({ hasText: 'Adjustment of -€12.50 for Mu Partners accepted' }).waitFor()
    await waitFor(
      'the adjustment line',
      async () => (await app.call('GET', `/api/ledger?affiliateId=${affs.rs.id}`)).body.items.map((l: { kind: string; reason: string }) => `${l.kind} ${l.reason}`),
      (ls: string[]) => ls.includes('adjustment Manual adjustment -12.50 EUR by operator: wire fee'),
      20_000,
    )
    expect(errors).toEqual([])
  }, 90_000)

  it('the affiliate sees its own statement, paid, with the same total; downloads its invoice; checks its ledger; changes how it is paid', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } })
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(String(e)))
    await signIn(page, app.url, token)
    await open(page, 'statements')
    await page.getByTestId('statement-row').first().waitFor()
    expect(await page.getByTestId('statement-row').count()).toBe(1)
    const r = page.getByTestId('statement-row').first()
    expect(await r.getByTestId('statement-status').textContent()).toMatch(/Paid/)
    expect(await r.getByTestId('statement-payable').textContent()).toMatch(/200\.00/)
    await r.getByTestId('statement-open').click()
    await page.getByTestId('drill-line').nth(1).waitFor()
    expect(await page.getByTestId('drill-line').count()).toBe(2)
    // the invoice: a PDF to download, whose figures are the statement's
    const pdf = page.waitForEvent('download')
    await page.getByTestId('invoice-pdf').click()
    const file = await (await pdf).path()
    expect(readFileSync(file!).subarray(0, 5).toString()).toBe('%PDF-')
    const html = await fetch(`${app.url}/api/statements/invoice?period=2026-09&format=html`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.text())
    expect(html).toMatch(/<td class="n" data-total="EUR"><b>200\.00 EUR<\/b><\/td>/)
    expect(html).toContain('Lambda Media deal (v1)')

    // its ledger (the two CPAs and the payment) checks against the statement's seal
    await page.getByTestId('verify-seals').click()
    await page.getByTestId('verify-result').filter({ hasText: 'It holds: 3 lines, each linked to the one before, and 1 statement seal matching.' }).waitFor()
    const download = page.waitForEvent('download')
    await page.getByTestId('download-ledger').click()
    expect((await download).suggestedFilename()).toBe(`ledger-${affs.cpa.id}.json`)
    // how it is paid: the details finance entered, masked; it changes them itself
    expect(await page.getByTestId('payment-now').textContent()).toMatch(/bank transfer to Lambda Media GmbH, IBAN DE89…3000/)
    await page.getByTestId('payment-holder').fill('Lambda Media GmbH')
    await page.getByTestId('payment-iban').fill('GB00 WEST 1234 5698 7654 32') // wrong check digits
    await page.getByTestId('payment-save').click()
    await page.getByTestId('settlement-error').filter({ hasText: 'iban' }).waitFor()
    await page.getByTestId('payment-iban').fill('GB82 WEST 1234 5698 7654 32')
    await page.getByTestId('payment-save').click()
    await page.getByTestId('settlement-msg').filter({ hasText: 'Your payment details are saved.' }).waitFor()
    expect(await page.getByTestId('payment-now').textContent()).toMatch(/IBAN GB82…5432/)
    expect(await page.getByTestId('payment-history').textContent()).toMatch(/by you: bank transfer to Lambda Media GmbH, IBAN GB82…5432/)
    if (SHOTS) await page.screenshot({ path: join(SHOTS, 'settlement-affiliate.png'), fullPage: true })
    expect(errors).toEqual([])
  }, 60_000)
})
