/**
 * Security headers and rate limits on the dashboard and /api, and none of it on the click
 * path; the built dashboard in real Chromium under its Content-Security-Policy: it loads,
 * signs in and goes live with no CSP violation in the console. The client address comes
 * from X-Forwarded-For (TRUST_PROXY=127.0.0.1), so a test can be many clients.
 */
import { existsSync } from 'node:fs'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnEmbedded, type EmbeddedApp } from './helpers/app.js'
import { launchChromium } from './helpers/browser.js'
import { TEST_SECRETS } from './helpers/config.js'
import { setupProgram, type Program } from './helpers/scenario.js'

const LIMIT = 100
let app: EmbeddedApp
let prog: Program
let browser: Browser | undefined

beforeAll(async () => {
  app = await spawnEmbedded('security', { TRUST_PROXY: '127.0.0.1', API_RATE_LIMIT_MAX: String(LIMIT), API_RATE_LIMIT_WINDOW_S: '60' })
  prog = await setupProgram(app.call)
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await app?.dispose()
})

/** What @fastify/helmet and @fastify/rate-limit add to a response. */
const ADDED = [
  'content-security-policy',
  'x-frame-options',
  'x-content-type-options',
  'strict-transport-security',
  'cross-origin-opener-policy',
  'cross-origin-resource-policy',
  'origin-agent-cluster',
  'referrer-policy',
  'x-dns-prefetch-control',
  'x-download-options',
  'x-permitted-cross-domain-policies',
  'x-xss-protection',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
]
const from = (ip: string, headers: Record<string, string> = {}) => ({ headers: { 'x-forwarded-for': ip, ...headers } })
const OP = { authorization: `Bearer ${TEST_SECRETS.OPERATOR_API_KEY}` }

describe('security headers', () => {
  it.each(['/', '/api/whoami', '/api/openapi.json', '/api/nothing-here'])('%s: a CSP that forbids framing, nosniff, DENY', async (path) => {
    const r = await fetch(`${app.url}${path}`, from('192.0.2.1', OP))
    const csp = r.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).toContain("default-src 'self'")
    expect(csp).toContain("script-src 'self'")
    expect(csp).not.toContain('unsafe-inline')
    expect(csp).not.toContain('upgrade-insecure-requests')
    expect(r.headers.get('x-content-type-options')).toBe('nosniff')
    expect(r.headers.get('x-frame-options')).toBe('DENY')
  })

  it('the click path keeps its own headers: a redirect, the landing script and a postback carry none of them', async () => {
    const click = await fetch(`${app.url}/c/${prog.links[0]!.code}`, { redirect: 'manual', ...from('192.0.2.2') })
    expect(click.status).toBe(302)
    const script = await fetch(`${app.url}/t.js`, from('192.0.2.2'))
    expect(script.status).toBe(200)
    const postback = await fetch(`${app.url}/postback?source=${prog.sourceId}&token=${prog.token}&event=registration&event_id=sec-1&player_id=sec-p1`, from('192.0.2.2'))
    expect(postback.status).toBe(200)
    for (const r of [click, script, postback]) for (const h of ADDED) expect(r.headers.get(h), `${r.url} ${h}`).toBeNull()
  })
})

describe('rate limit on /api, per client address', () => {
  it('answers 429 with Retry-After and a JSON reason past the limit; another address and the click path are unaffected', async () => {
    const ip = '198.51.100.9'
    for (let i = 0; i < LIMIT; i++) {
      const r = await fetch(`${app.url}/api/whoami`, from(ip, OP))
      expect(r.status, `request ${i + 1}`).toBe(200)
      await r.arrayBuffer()
    }
    const over = await fetch(`${app.url}/api/whoami`, from(ip, OP))
    expect(over.status).toBe(429)
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(await over.json()).toEqual({ error: 'rate_limited', reason: expect.stringContaining('too many requests') })
    // without a credential too: guessing keys is limited like everything else
    expect((await fetch(`${app.url}/api/whoami`, from(ip))).status).toBe(429)
    expect((await fetch(`${app.url}/api/whoami`, from('198.51.100.10', OP))).status).toBe(200)
    expect((await fetch(`${app.url}/c/${prog.links[0]!.code}`, { redirect: 'manual', ...from(ip) })).status).toBe(302)
  })
})

describe('the dashboard under its CSP, in Chromium', () => {
  it('loads, signs in and goes live with no CSP violation or error in the console', async () => {
    expect(existsSync(new URL('../dashboard/dist/index.html', import.meta.url)), 'build the dashboard first (npm run build)').toBe(true)
    browser = await launchChromium()
    const page = await browser.newPage({ extraHTTPHeaders: { 'x-forwarded-for': '192.0.2.50' } })
    const problems: string[] = []
    page.on('console', (m) => {
      const where = m.location().url
      if (where && new URL(where).pathname === '/favicon.ico') return
      if (m.type() === 'error' || /content security policy/i.test(m.text())) problems.push(`${m.type()}: ${m.text()} (${where})`)
    })
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`))
    // Chromium asks for /favicon.ico on its own; the dashboard has none (a 404 there is not the page's).
    page.on('response', (r) => {
      if (r.status() >= 400 && new URL(r.url()).pathname !== '/favicon.ico') problems.push(`${r.status()} ${r.url()}`)
    })
    const res = await page.goto(app.url)
    expect(res?.headers()['content-security-policy']).toContain("frame-ancestors 'none'")
    await page.fill('input[type=password]', TEST_SECRETS.OPERATOR_API_KEY)
    await page.click('button[type=submit]')
    await page.getByTestId('live-status').filter({ hasText: 'live' }).waitFor({ timeout: 15_000 })
    // a click after sign-in arrives over the WebSocket (connect-src)
    expect((await fetch(`${app.url}/c/${prog.links[0]!.code}`, { redirect: 'manual' })).status).toBe(302)
    await expect.poll(() => page.getByTestId('by-affiliate').textContent()).toContain('Alpha Media')
    expect(problems).toEqual([])
  }, 60_000)
})
