/**
 * The traffic simulator: clean traffic with realistic distributions (one visitor per home
 * address, a browser each, most registrations minutes after the click, deposits of usual
 * sizes, real wagering) mixed with each fraud pattern on demand, sent through the real HTTP
 * endpoints (clicks to /c/<code>, conversions to /postback). Every sent thing is labelled
 * with what the rules must find, so a test (the golden set), the benchmark and the demo use
 * the same traffic.
 *
 * Visitors' addresses travel in X-Forwarded-For: ingest must trust the sender for them
 * (TRUST_PROXY; `--demo` trusts loopback).
 *
 *   npm run traffic -- --url http://127.0.0.1:8080 --source 1 --token <postback token> \
 *     --link <code>:<affiliate id> [--clean 200] [--patterns click_flood,ctit,...] [--wait 16]
 *
 * Patterns that need days of history (late-conversion share, conversion-rate anomaly) are not
 * sent: their table tests cover them.
 */
import { parseArgs } from 'node:util'
import { DEMO_USER_AGENTS } from './demo-traffic.js'
import { emailHash } from '../processor/domain/fraud/self-referral.js'

export const PATTERNS = [
  'click_flood',
  'bot',
  'hosting_ip',
  'paid_search',
  'geo_mismatch',
  'ctit',
  'multi_account',
  'shared_payment',
  'self_referral',
  'hosting_conversion',
  'kyc_mismatch',
  'bonus_abuse',
  'click_reuse',
] as const
export type Pattern = (typeof PATTERNS)[number]

/** What the rules must find of a labelled thing sent: its event id as the findings name it. */
export type Label = { pattern: Pattern | 'clean'; eventId: string; kind: 'click' | 'registration' | 'ftd' | 'withdrawal'; reason?: string; action?: string }

export type TrafficTarget = {
  url: string
  source: { id: number; token: string }
  /** a link of an offer that forbids paid search and has markets (DE, AT, CH), and its affiliate's e-mail */
  link: { code: string; affiliateId: number; email?: string }
}

export type TrafficOptions = {
  clean: number
  patterns: readonly Pattern[]
  /** how long registrations wait after their clicks (the CTIT line is 15 s by default) */
  waitMs?: number
  /** a seed for the random choices: the same seed, the same traffic */
  seed?: number
  /** a run's own prefix for ids (default: the time) */
  run?: string
  onProgress?: (what: string) => void
}

/** Home broadband ranges in the offer's markets (German, Austrian, Swiss ISPs), not hosting. */
const HOME: readonly (readonly [string, string])[] = [
  ['79.194', 'DE'],
  ['79.220', 'DE'],
  ['84.130', 'DE'],
  ['87.123', 'DE'],
  ['91.64', 'DE'],
  ['93.133', 'DE'],
  ['178.191', 'AT'],
  ['80.108', 'AT'],
  ['83.76', 'CH'],
  ['85.0', 'CH'],
]
const FOREIGN_HOME = '73.162' // a US cable ISP: outside the markets
const DATACENTER = '3.5.140' // Amazon
const BOT_UA = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'

/** A small deterministic generator (mulberry32). */
function rng(seed: number) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export async function sendTraffic(t: TrafficTarget, o: TrafficOptions): Promise<Label[]> {
  const r = rng(o.seed ?? 1)
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!
  const run = o.run ?? Date.now().toString(36)
  const labels: Label[] = []
  let ipN = 0
  const homeIp = () => {
    ipN++
    return `${HOME[ipN % HOME.length]![0]}.${1 + (Math.floor(ipN / HOME.length) % 250)}.${1 + (ipN % 253)}`
  }
  const countryOfHome = (ip: string) => HOME.find(([p]) => ip.startsWith(`${p}.`))?.[1] ?? 'DE'

  const click = async (ip: string, ua: string, query = ''): Promise<string> => {
    const res = await fetch(`${t.url}/c/${t.link.code}${query}`, { redirect: 'manual', headers: { 'x-forwarded-for': ip, 'user-agent': ua } })
    if (res.status !== 302) throw new Error(`click answered ${res.status}`)
    const cid = new URL(res.headers.get('location')!).searchParams.get('cid')
    if (!cid) throw new Error('the redirect carries no click id: the link needs {click_id} in its destination')
    return cid
  }
  const post = async (body: Record<string, string>) => {
    const res = await fetch(`${t.url}/postback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-postback-token': t.source.token },
      body: JSON.stringify({ source: String(t.source.id), ...body }),
    })
    if (res.status !== 200) throw new Error(`postback ${body.event} ${body.event_id} answered ${res.status}: ${await res.text()}`)
    return `${t.source.id}:${body.event_id}`
  }
  const label = (l: Label) => labels.push(l)

  // ---- phase 1: clicks (clean visitors, and the click patterns) ----
  o.onProgress?.('clicks')
  type Visitor = { ip: string; ua: string; cid: string; player: string }
  const visitors: Visitor[] = []
  for (let i = 0; i < o.clean; i++) {
    const v = { ip: homeIp(), ua: pick(DEMO_USER_AGENTS), cid: '', player: `${run}-c${i}` }
    v.cid = await click(v.ip, v.ua, `?sub1=${pick(['seo', 'email', 'social'])}`)
    // a third of the visitors look twice
    if (r() < 0.3) await click(v.ip, v.ua)
    visitors.push(v)
    label({ pattern: 'clean', eventId: v.cid, kind: 'click' })
  }
  const has = (p: Pattern) => o.patterns.includes(p)
  if (has('click_flood')) {
    const ip = homeIp()
    const ua = pick(DEMO_USER_AGENTS)
    for (let i = 0; i < 25; i++) {
      const cid = await click(ip, ua, '?sub1=flood')
      // the first 10 of the minute count; the rest are the flood
      if (i >= 10) label({ pattern: 'click_flood', eventId: cid, kind: 'click', reason: 'click_flood', action: 'filter' })
    }
  }
  if (has('bot')) label({ pattern: 'bot', eventId: await click(homeIp(), BOT_UA), kind: 'click', reason: 'bot', action: 'filter' })
  if (has('hosting_ip'))
    label({
      pattern: 'hosting_ip',
      eventId: await click(`${DATACENTER}.${1 + Math.floor(r() * 250)}`, pick(DEMO_USER_AGENTS)),
      kind: 'click',
      reason: 'hosting_ip',
      action: 'filter',
    })
  if (has('paid_search'))
    label({
      pattern: 'paid_search',
      eventId: await click(homeIp(), pick(DEMO_USER_AGENTS), '?gclid=Cj0KCQ-simulated'),
      kind: 'click',
      reason: 'paid_search',
      action: 'flag',
    })
  if (has('geo_mismatch'))
    label({
      pattern: 'geo_mismatch',
      eventId: await click(`${FOREIGN_HOME}.${1 + Math.floor(r() * 250)}.7`, pick(DEMO_USER_AGENTS)),
      kind: 'click',
      reason: 'geo_mismatch',
      action: 'flag',
    })
  // clicks the conversion patterns register on later (people, at home)
  const patternClick = async () => click(homeIp(), pick(DEMO_USER_AGENTS))
  const later: { p: Pattern; cid: string }[] = []
  for (const p of ['multi_account', 'shared_payment', 'self_referral', 'hosting_conversion', 'kyc_mismatch', 'bonus_abuse', 'click_reuse'] as const)
    if (has(p)) for (let i = 0; i < (p === 'multi_account' ? 6 : p === 'shared_payment' ? 2 : 1); i++) later.push({ p, cid: await patternClick() })

  // ---- the registrations come minutes later in life; here, past the CTIT line ----
  const wait = o.waitMs ?? 16_000
  o.onProgress?.(`waiting ${Math.round(wait / 1000)} s: registrations come after their clicks`)
  await new Promise((res) => setTimeout(res, wait))

  // ---- phase 2: conversions ----
  o.onProgress?.('conversions')
  for (const v of visitors) {
    if (r() >= 0.15) continue
    const country = countryOfHome(v.ip)
    const reg = await post({
      event: 'registration',
      event_id: `${v.player}-reg`,
      click_id: v.cid,
      player_id: v.player,
      ip: v.ip,
      device_id: `dev-${v.player}`,
      email_hash: emailHash(`${v.player}@mail.example`),
      kyc_country: country,
    })
    label({ pattern: 'clean', eventId: reg, kind: 'registration' })
    if (r() < 0.4) {
      const amount = pick(['10', '20', '25', '50', '50', '100', '100', '200', '500'])
      const pay = `pay-${v.player}`
      label({
        pattern: 'clean',
        eventId: await post({ event: 'ftd', event_id: `${v.player}-ftd`, player_id: v.player, amount, currency: 'EUR', payment_hash: pay, ip: v.ip }),
        kind: 'ftd',
      })
      await post({
        event: 'activity',
        event_id: `${v.player}-act`,
        player_id: v.player,
        currency: 'EUR',
        date: new Date().toISOString().slice(0, 10),
        bets: String(Number(amount) * (3 + Math.floor(r() * 20))),
        wins: String(Number(amount) * 2),
        bonuses: r() < 0.5 ? '10' : '0',
      })
      if (r() < 0.2)
        label({
          pattern: 'clean',
          eventId: await post({
            event: 'withdrawal',
            event_id: `${v.player}-wd`,
            player_id: v.player,
            amount: String(Number(amount) / 2),
            currency: 'EUR',
            payment_hash: pay,
          }),
          kind: 'withdrawal',
        })
    }
  }
  const byP = (p: Pattern) => later.filter((x) => x.p === p)
  const player = (p: string, i: number) => `${run}-${p}-${i}`
  for (const [i, x] of byP('multi_account').entries()) {
    const id = await post({ event: 'registration', event_id: `${player('ma', i)}-reg`, click_id: x.cid, player_id: player('ma', i), ip: '84.130.77.77' })
    if (i === 5) label({ pattern: 'multi_account', eventId: id, kind: 'registration', reason: 'multi_account', action: 'hold' })
  }
  for (const [i, x] of byP('shared_payment').entries()) {
    await post({ event: 'registration', event_id: `${player('sp', i)}-reg`, click_id: x.cid, player_id: player('sp', i) })
    const id = await post({
      event: 'ftd',
      event_id: `${player('sp', i)}-ftd`,
      player_id: player('sp', i),
      amount: '50',
      currency: 'EUR',
      payment_hash: `card-${run}-shared`,
    })
    if (i === 1) label({ pattern: 'shared_payment', eventId: id, kind: 'ftd', reason: 'shared_payment', action: 'hold' })
  }
  for (const [i, x] of byP('self_referral').entries()) {
    if (!t.link.email) throw new Error('self_referral needs the affiliate’s e-mail')
    const id = await post({
      event: 'registration',
      event_id: `${player('self', i)}-reg`,
      click_id: x.cid,
      player_id: player('self', i),
      email_hash: emailHash(t.link.email),
    })
    label({ pattern: 'self_referral', eventId: id, kind: 'registration', reason: 'self_referral', action: 'hold' })
  }
  for (const [i, x] of byP('hosting_conversion').entries()) {
    const id = await post({ event: 'registration', event_id: `${player('dc', i)}-reg`, click_id: x.cid, player_id: player('dc', i), ip: `${DATACENTER}.9` })
    label({ pattern: 'hosting_conversion', eventId: id, kind: 'registration', reason: 'hosting_ip', action: 'hold' })
  }
  for (const [i, x] of byP('kyc_mismatch').entries()) {
    const id = await post({
      event: 'registration',
      event_id: `${player('kyc', i)}-reg`,
      click_id: x.cid,
      player_id: player('kyc', i),
      ip: '79.194.1.1',
      kyc_country: 'BR',
    })
    label({ pattern: 'kyc_mismatch', eventId: id, kind: 'registration', reason: 'geo_mismatch', action: 'flag' })
  }
  for (const [i, x] of byP('bonus_abuse').entries()) {
    const p = player('ba', i)
    await post({ event: 'registration', event_id: `${p}-reg`, click_id: x.cid, player_id: p })
    await post({ event: 'ftd', event_id: `${p}-ftd`, player_id: p, amount: '20', currency: 'EUR' })
    await post({
      event: 'activity',
      event_id: `${p}-act`,
      player_id: p,
      currency: 'EUR',
      date: new Date().toISOString().slice(0, 10),
      bets: '5',
      wins: '2',
      bonuses: '50',
    })
    const id = await post({ event: 'withdrawal', event_id: `${p}-wd`, player_id: p, amount: '65', currency: 'EUR' })
    label({ pattern: 'bonus_abuse', eventId: id, kind: 'withdrawal', reason: 'bonus_abuse', action: 'hold' })
  }
  for (const [, x] of byP('click_reuse').entries()) {
    // one visit's click id, replayed for two more players
    for (let i = 0; i < 3; i++) {
      const id = await post({ event: 'registration', event_id: `${player('reuse', i)}-reg`, click_id: x.cid, player_id: player('reuse', i) })
      if (i > 0) label({ pattern: 'click_reuse', eventId: id, kind: 'registration', reason: 'click_reuse', action: 'hold' })
    }
  }
  if (has('ctit')) {
    // injected: the registration 3 s after its click
    const cid = await patternClick()
    await new Promise((res) => setTimeout(res, 3000))
    const id = await post({ event: 'registration', event_id: `${player('inj', 0)}-reg`, click_id: cid, player_id: player('inj', 0) })
    label({ pattern: 'ctit', eventId: id, kind: 'registration', reason: 'ctit_too_short', action: 'reject' })
  }
  o.onProgress?.(`sent: ${labels.length} labelled`)
  return labels
}

async function main() {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', default: 'http://127.0.0.1:8080' },
      source: { type: 'string' },
      token: { type: 'string' },
      link: { type: 'string' },
      email: { type: 'string' },
      clean: { type: 'string', default: '200' },
      patterns: { type: 'string', default: PATTERNS.join(',') },
      wait: { type: 'string', default: '16' },
    },
  })
  const [code, aff] = (values.link ?? '').split(':')
  if (!values.source || !values.token || !code || !aff) {
    console.error(
      'usage: npm run traffic -- --url <ingest> --source <id> --token <postback token> --link <code>:<affiliate id> [--email <affiliate e-mail>] [--clean 200] [--patterns a,b] [--wait 16]',
    )
    process.exit(2)
  }
  const patterns = values.patterns!.split(',').filter(Boolean)
  const bad = patterns.filter((p) => !(PATTERNS as readonly string[]).includes(p))
  if (bad.length) {
    console.error(`unknown pattern(s): ${bad.join(', ')}; known: ${PATTERNS.join(', ')}`)
    process.exit(2)
  }
  const labels = await sendTraffic(
    {
      url: values.url!,
      source: { id: Number(values.source), token: values.token },
      link: { code, affiliateId: Number(aff), ...(values.email ? { email: values.email } : {}) },
    },
    { clean: Number(values.clean), patterns: patterns as Pattern[], waitMs: Number(values.wait) * 1000, onProgress: (w) => console.error(w) },
  )
  const byPattern: Record<string, number> = {}
  for (const l of labels) byPattern[l.pattern] = (byPattern[l.pattern] ?? 0) + 1
  console.log(JSON.stringify({ sent: labels.length, byPattern }))
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
