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

type DemoSetup = { sourceId: number; token: string; codes: string[] }

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
      const link = await store.links.create({ affiliateId: a.id, destination: 'https://brand.example/welcome?cid={click_id}&s1={sub1}', code: `demo${i + 1}` }, now)
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

export async function startDemo(nc: NatsConnection, baseUrl: string, cfg: Config, log: Logger) {
  const setup = await ensureSetup(nc, cfg)
  let stopped = false
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

  async function one(ftdShare: number) {
    const cid = await click()
    if (cid && Math.random() < 0.12) {
      const player = `demo-${Date.now().toString(36)}-${(n++).toString(36)}`
      await postback('registration', player, cid)
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
      for (let i = 0; i < o.clicks; i += 50) await Promise.all(Array.from({ length: Math.min(50, o.clicks - i) }, () => click()))
      for (let i = 0; i < o.ftds; i++) {
        const cid = await click()
        const player = `burst-${Date.now().toString(36)}-${(n++).toString(36)}`
        await postback('registration', player, cid)
        await postback('ftd', player)
      }
    },
  }
}
