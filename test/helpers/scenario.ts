/**
 * One traffic scenario for the end-to-end and fault tests: two affiliates with CPA deals in
 * two currencies, clicks through their links, registrations bound to those clicks, FTDs,
 * replays (same event id) and business duplicates (a second FTD for a player).
 */
import { D } from '../../common/money.js'
import { pool } from './app.js'

/** A browser's user agent for test clicks: Node's fetch says `node`, a bot, and a bot's click
 *  is stored as filtered and not counted. */
/** The flood rule counts clicks per calendar minute: a test's burst starts well inside one,
 *  with at least `needMs` of it left (else at the next one). */
export async function awayFromMinuteEdge(needMs = 10_000): Promise<void> {
  const into = Date.now() % 60_000
  if (into > 60_000 - needMs) await new Promise((r) => setTimeout(r, 60_500 - into))
}

export const BROWSER_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'

type Call = <T = any>(method: string, path: string, body?: unknown) => Promise<{ status: number; body: T }>

export type Program = { links: { code: string; affiliateId: number; amount: string; currency: string }[]; sourceId: number; token: string }

export async function setupProgram(call: Call): Promise<Program> {
  const deals = [
    { name: 'Alpha Media', amount: '100', currency: 'EUR' },
    { name: 'Beta Traffic', amount: '37.55', currency: 'USD' },
  ]
  const links: Program['links'] = []
  for (const d of deals) {
    const a = await call('POST', '/api/affiliates', { name: d.name })
    if (a.status !== 201) throw new Error(`create affiliate: ${JSON.stringify(a)}`)
    const l = await call('POST', '/api/links', { affiliateId: a.body.id, destination: 'https://brand.example/land?cid={click_id}&s={sub1}' })
    if (l.status !== 201) throw new Error(`create link: ${JSON.stringify(l)}`)
    const c = await call('POST', '/api/deals/cpa', { affiliateId: a.body.id, amount: d.amount, currency: d.currency })
    if (c.status !== 201) throw new Error(`create deal: ${JSON.stringify(c)}`)
    links.push({ code: l.body.code, affiliateId: a.body.id, amount: d.amount, currency: d.currency })
  }
  const s = await call('POST', '/api/sources', { name: 'test platform' })
  if (s.status !== 201) throw new Error(`create source: ${JSON.stringify(s)}`)
  return { links, sourceId: s.body.id, token: s.body.token }
}

export type Expected = {
  clicks: number
  registrations: number
  ftds: number
  unattributed: number
  duplicates: number
  commission: Record<string, string>
}

export type TrafficOptions = { clicks: number; ftds: number; replays: number; secondFtds: number; forged: number; concurrency?: number }

export async function postback(url: string, prog: Program, body: Record<string, string>) {
  const r = await fetch(`${url}/postback`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-postback-token': prog.token },
    body: JSON.stringify({ source: String(prog.sourceId), ...body }),
  })
  return { status: r.status, body: (await r.json()) as Record<string, unknown> }
}

/** Drive the scenario through the ingest URL; returns what the totals must be. */
export async function driveTraffic(url: string, prog: Program, o: TrafficOptions, onProgress?: (sent: number) => void): Promise<Expected> {
  const conc = o.concurrency ?? 64
  const clickIds = await pool(o.clicks, conc, async (i) => {
    const link = prog.links[i % prog.links.length]!
    const get = () => fetch(`${url}/c/${link.code}?sub1=s${i % 7}`, { redirect: 'manual', headers: { 'user-agent': BROWSER_UA } })
    let r = await get()
    // A link created a moment ago reaches the ingest tier through a KV watch: give it a moment.
    for (let t = 0; r.status === 404 && t < 50; t++) {
      await new Promise((res) => setTimeout(res, 50))
      r = await get()
    }
    if (r.status !== 302) throw new Error(`click ${i}: ${r.status}`)
    if (i % 1000 === 999) onProgress?.(i + 1)
    return new URL(r.headers.get('location')!).searchParams.get('cid')!
  })
  const commission = new Map<string, InstanceType<typeof D>>()
  await pool(o.ftds, Math.min(conc, 32), async (i) => {
    const player = `player-${i}`
    const reg = await postback(url, prog, { event: 'registration', event_id: `reg-${i}`, player_id: player, click_id: clickIds[i]! })
    if (reg.status !== 200) throw new Error(`registration ${i}: ${JSON.stringify(reg)}`)
    const ftd = await postback(url, prog, { event: 'ftd', event_id: `ftd-${i}`, player_id: player, amount: '50.00', currency: 'EUR' })
    if (ftd.status !== 200) throw new Error(`ftd ${i}: ${JSON.stringify(ftd)}`)
  })
  for (let i = 0; i < o.ftds; i++) {
    const link = prog.links[i % prog.links.length]!
    commission.set(link.currency, (commission.get(link.currency) ?? new D(0)).plus(link.amount))
  }
  // Replays: the operator sends the same FTD again; the answer must be the first one.
  await pool(o.replays, 16, async (i) => {
    const r = await postback(url, prog, { event: 'ftd', event_id: `ftd-${i}`, player_id: `player-${i}`, amount: '50.00', currency: 'EUR' })
    if (r.status !== 200) throw new Error(`replay ${i}: ${JSON.stringify(r)}`)
  })
  // A second FTD for a player under a new id: recorded as a duplicate, earns nothing.
  await pool(o.secondFtds, 16, async (i) => {
    const r = await postback(url, prog, { event: 'ftd', event_id: `ftd-again-${i}`, player_id: `player-${i}`, amount: '10', currency: 'EUR' })
    if (r.status !== 200) throw new Error(`second ftd ${i}: ${JSON.stringify(r)}`)
  })
  // Registrations with a forged click id: recorded, attributed to nobody.
  await pool(o.forged, 8, async (i) => {
    const forged = clickIds[i]!.slice(0, -4) + (clickIds[i]!.endsWith('AAAA') ? 'BBBB' : 'AAAA')
    const r = await postback(url, prog, { event: 'registration', event_id: `forged-${i}`, player_id: `forged-${i}`, click_id: forged })
    if (r.status !== 200) throw new Error(`forged ${i}: ${JSON.stringify(r)}`)
  })
  return {
    clicks: o.clicks,
    registrations: o.ftds,
    ftds: o.ftds,
    unattributed: o.forged,
    duplicates: o.secondFtds,
    commission: Object.fromEntries([...commission].sort(([a], [b]) => a.localeCompare(b)).map(([c, d]) => [c, d.toFixed()])),
  }
}
