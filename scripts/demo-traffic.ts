/**
 * Demo data and traffic for a fresh start: a few affiliates with links, CPA deals and a
 * postback source, then a steady trickle of clicks, registrations and FTDs sent through
 * the real HTTP endpoints, so the dashboard comes alive. `burst()` sends a batch at once.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { NatsConnection } from 'nats'
import type { Config } from '../common/config.js'
import { EntityStore } from '../common/entities.js'
import type { Logger } from '../common/log.js'
import { PATTERNS, sendTraffic } from './fraud-traffic.js'

type DemoSetup = { sourceId: number; token: string; codes: string[]; fraud?: { code: string; affiliateId: number; email: string } }

const NAMES = ['Casino Guru Media', 'FX Signals Pro', 'Prop Firm Reviews', 'SlotStreamers', 'BetTips Daily']

/** What the demo's visitors browse with. Node's fetch says `node`, which the processor
 *  rightly takes for a bot (a filtered click, not counted): demo clicks must look like people. */
export const DEMO_USER_AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
  'Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36',
  'Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0',
] as const

const pick = <T>(xs: readonly T[]) => xs[Math.floor(Math.random() * xs.length)]!

/** One demo visitor's click on a tracking URL, as a browser sends it; the click id the
 *  redirect carries. */
export async function demoClick(url: string): Promise<string | undefined> {
  const res = await fetch(url, { redirect: 'manual', headers: { 'user-agent': pick(DEMO_USER_AGENTS) } })
  const loc = res.headers.get('location') ?? ''
  return new URL(loc).searchParams.get('cid') ?? undefined
}

async function ensureSetup(nc: NatsConnection, cfg: Config): Promise<DemoSetup> {
  const file = join(cfg.dataDir, 'demo.json')
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as DemoSetup
  const store = await EntityStore.open(nc)
  // the store's watches end with the setup: the app's connection outlives it
  try {
    const now = Date.now()
    const codes: string[] = []
    for (const [i, name] of NAMES.entries()) {
      const a = await store.affiliates.create({ name }, now)
      const link = await store.links.create(
        { affiliateId: a.id, destination: 'https://brand.example/welcome?cid={click_id}&s1={sub1}', code: `demo${i + 1}` },
        now,
      )
      await store.deals.addCpaVersion(a.id, { amount: ['100', '150', '75.50', '200', '120'][i]!, currency: i === 1 ? 'USD' : 'EUR', effectiveFrom: now }, now)
      codes.push(link.code)
    }
    const { source, secret: token } = await store.sources.create({ name: 'Demo operator platform' }, now)
    const setup = { sourceId: source.id, token, codes }
    writeFileSync(file, JSON.stringify(setup, null, 2), { mode: 0o600 })
    return setup
  } finally {
    store.stop()
  }
}

/** The fraud simulator's affiliate: a link on an offer for the DACH markets that forbids paid
 *  search, and an e-mail (self-referral), made once and kept in demo.json. */
async function ensureFraudSetup(nc: NatsConnection, cfg: Config, setup: DemoSetup): Promise<NonNullable<DemoSetup['fraud']>> {
  if (setup.fraud) return setup.fraud
  const store = await EntityStore.open(nc)
  try {
    const now = Date.now()
    const email = 'owner@suspicious-media.example'
    const a = await store.affiliates.create({ name: 'Suspicious Media', email }, now)
    const offer = await store.offers.create(
      { name: 'Casino DACH', destination: 'https://brand.example/dach?cid={click_id}', markets: ['DE', 'AT', 'CH'], paidSearch: 'forbidden' },
      now,
    )
    const link = await store.links.create(
      { affiliateId: a.id, offerId: offer.id, destination: 'https://brand.example/dach?cid={click_id}&s1={sub1}', code: 'demo-fraud' },
      now,
    )
    await store.deals.addCpaVersion(a.id, { amount: '100', currency: 'EUR', effectiveFrom: now }, now)
    setup.fraud = { code: link.code, affiliateId: a.id, email }
    writeFileSync(join(cfg.dataDir, 'demo.json'), JSON.stringify(setup, null, 2), { mode: 0o600 })
    return setup.fraud
  } finally {
    store.stop()
  }
}

export async function startDemo(nc: NatsConnection, baseUrl: string, cfg: Config, log: Logger) {
  const setup = await ensureSetup(nc, cfg)
  let stopped = false
  let fraudRunning = false
  let n = 0
  const weights = [0.35, 0.25, 0.2, 0.12, 0.08]
  const code = () => {
    let r = Math.random()
    for (const [i, w] of weights.entries()) if ((r -= w) <= 0) return setup.codes[i]!
    return setup.codes[0]!
  }

  const click = () => demoClick(`${baseUrl}/c/${code()}?sub1=${pick(['banner', 'email', 'social', 'seo'])}`)

  async function postback(event: 'registration' | 'ftd', player: string, clickId?: string) {
    const body: Record<string, string> = { source: String(setup.sourceId), event, event_id: `${event}-${player}`, player_id: player }
    if (clickId) body.click_id = clickId
    if (event === 'ftd') Object.assign(body, { amount: pick(['20', '50', '100', '250']), currency: 'EUR' })
    await fetch(`${baseUrl}/postback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-postback-token': setup.token },
      body: JSON.stringify(body),
    })
  }

  // Visitors register a while after their click: sooner than 15 s is what injected clicks do,
  // and the fraud rules reject it. Clicks wait here until they are old enough.
  const waiting: { cid: string; at: number }[] = []
  const ripe = () => (waiting.length && waiting[0]!.at < Date.now() - 20_000 ? waiting.shift()!.cid : undefined)
  async function one(ftdShare: number) {
    const cid = await click()
    if (cid && Math.random() < 0.12) waiting.push({ cid, at: Date.now() })
    if (waiting.length > 500) waiting.splice(0, waiting.length - 500)
    const old = ripe()
    if (old) {
      const player = `demo-${Date.now().toString(36)}-${(n++).toString(36)}`
      await postback('registration', player, old)
      if (Math.random() < ftdShare) await postback('ftd', player)
    }
  }

  const loop = async () => {
    while (!stopped) {
      try {
        await Promise.all(Array.from({ length: 1 + Math.floor(Math.random() * 6) }, () => one(0.4)))
      } catch (err) {
        if (!stopped) log.warn({ err: (err as Error).message }, 'demo traffic hiccup')
      }
      await new Promise((r) => setTimeout(r, 250))
    }
  }
  void loop()
  log.info({ links: setup.codes }, 'demo traffic on')
  return {
    /** the demo's postback source, for the start-up banner: try a postback by hand with it */
    source: { id: setup.sourceId, token: setup.token },
    links: setup.codes,
    stop() {
      stopped = true
    },
    async burst(o: { clicks: number; ftds: number }) {
      const cids: string[] = []
      for (let i = 0; i < o.clicks; i += 50)
        cids.push(...((await Promise.all(Array.from({ length: Math.min(50, o.clicks - i) }, () => click()))).filter(Boolean) as string[]))
      // the burst's visitors register 20 s after their clicks (sooner is an injected click)
      await new Promise((r) => setTimeout(r, 20_000))
      for (let i = 0; i < o.ftds; i++) {
        const player = `burst-${Date.now().toString(36)}-${(n++).toString(36)}`
        await postback('registration', player, cids[i % cids.length])
        await postback('ftd', player)
      }
    },
    /** clean traffic mixed with every fraud pattern (scripts/fraud-traffic.ts), on the fraud demo's link */
    fraud() {
      if (fraudRunning) return undefined
      fraudRunning = true
      const clean = 200
      void (async () => {
        try {
          const f = await ensureFraudSetup(nc, cfg, setup)
          await new Promise((r) => setTimeout(r, 500)) // the new link reaches ingest through its watch
          const labels = await sendTraffic(
            { url: baseUrl, source: { id: setup.sourceId, token: setup.token }, link: { code: f.code, affiliateId: f.affiliateId, email: f.email } },
            { clean, patterns: PATTERNS },
          )
          log.info({ sent: labels.length }, 'fraud simulation sent')
        } catch (err) {
          log.warn({ err: (err as Error).message }, 'fraud simulation stopped')
        } finally {
          fraudRunning = false
        }
      })()
      return { patterns: PATTERNS, clean }
    },
  }
}
