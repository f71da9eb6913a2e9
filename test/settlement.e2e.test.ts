/**
 * Period closes in the running system against the simulator: the same events, sent as clicks
 * and postbacks over HTTP, and the same closes, sent to the API, give the statements the
 * simulator computes (lines, totals, seals) and the same ledger, rounding lines included; an
 * event of a closed period that arrives after its close is booked in the open period; a close
 * is refused before its period ends and when the period is closed already; an affiliate reads
 * only its own statements.
 */
import { execFile } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { chain, GENESIS, type LedgerLine } from '../common/ledger.js'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, waitFor, spawnEmbedded, type EmbeddedApp } from './helpers/app.js'
import { tempDir, TEST_SECRETS } from './helpers/config.js'

const run = promisify(execFile)
import { ScenarioSchema, simulate, type ScenarioInput } from '../processor/simulator.js'

let app: EmbeddedApp
beforeAll(async () => {
  app = await spawnEmbedded('settlement', { PAYER_NAME: 'Lucky Star Partners Ltd', PAYER_IBAN: 'DE02 1203 0000 0000 2020 51', PAYER_BIC: 'BYLADEM1001' })
}, 60_000)
afterAll(async () => {
  await app?.dispose()
})

type Statement = { affiliateId: number; period: string; seal: { no: number; hash: string }; lines: { kind: string; amount: string; lines: number }[]; totals: Record<string, string>[] }

describe('settlement: closes in the running system make the simulator’s statements', () => {
  const events: ScenarioInput['events'] = []
  const deals: ScenarioInput['deals'] = []
  const affs: Record<'cpa' | 'rs' | 'ib', number> = { cpa: 0, rs: 0, ib: 0 }
  let source: { id: number; token: string }
  const EFFECTIVE = '2026-01-01T00:00:00.000Z'

  const codes = new Map<number, string>()
  /** Bind a player to an affiliate as a migration import does: the events are of past months,
   *  older than any click made now (a click after its registration is not its click). */
  async function bind(player: string, aff: number) {
    const r = await app.call('POST', '/api/import/players', { rows: [{ player_id: player, link_code: codes.get(aff) }] })
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.body.results[0].action, JSON.stringify(r.body)).toBe('bind')
  }

  async function send(at: string, body: Record<string, string>, scenario: Record<string, unknown>) {
    const r = await fetch(`${app.url}/postback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-postback-token': source.token },
      body: JSON.stringify({ source: String(source.id), occurred_at: at, ...body }),
    })
    expect(r.status, JSON.stringify(await r.clone().json())).toBe(200)
    events.push({ ...scenario, at, id: `${source.id}:${body.event_id}` } as ScenarioInput['events'][number])
  }

  async function close(period: string, asOf: string) {
    const r = await app.call('POST', '/api/periods/close', { period, asOf })
    expect(r.status, JSON.stringify(r.body)).toBe(202)
    expect(r.body).toMatchObject({ closeId: `close:${period}`, period, status: 'accepted' })
    events.push({ at: asOf, close: period })
  }

  const statements = (q = '') => app.call<{ items: Statement[] }>('GET', `/api/statements${q}`)

  beforeAll(async () => {
    const call = app.call
    const terms = {
      cpa: { currency: 'EUR', cpa: { amount: '100' } },
      rs: { currency: 'EUR', revshare: { bands: [{ from: '0', rate: '0.30' }], carryover: true } },
      ib: { currency: 'USD', ib: { perLot: { '*': '5.05' } } },
    }
    for (const k of ['cpa', 'rs', 'ib'] as const) {
      affs[k] = (await call('POST', '/api/affiliates', { name: `Settle ${k}` })).body.id
      const d = await call('POST', '/api/deals', { name: `${k} deal`, affiliateId: affs[k], effectiveFrom: EFFECTIVE, terms: terms[k] })
      expect(d.status, JSON.stringify(d.body)).toBe(201)
      deals.push({ id: d.body.id, affiliateId: affs[k], versions: [{ effectiveFrom: EFFECTIVE, terms: terms[k] }] })
      codes.set(affs[k], (await call('POST', '/api/links', { affiliateId: affs[k], destination: 'https://brand.example/?cid={click_id}' })).body.code)
    }
    source = (await call('POST', '/api/sources', { name: 'platform' })).body
    await new Promise((r) => setTimeout(r, 300)) // deals reach the processor through KV watches
  }, 60_000)

  it('closes September and October; a late September event lands in October; the statements and the ledger are the simulator’s', async () => {
    // September: two CPAs, a losing RevShare player (NGR -1,000), an IB's 57.71 lots ($291.4355)
    for (const p of ['c1', 'c2']) {
      await bind(p, affs.cpa)
      await send('2026-09-10T10:00:00Z', { event: 'registration', event_id: `reg-${p}`, player_id: p }, { kind: 'registration', player: p, affiliate: affs.cpa })
      await send('2026-09-10T11:00:00Z', { event: 'ftd', event_id: `ftd-${p}`, player_id: p, amount: '50', currency: 'EUR' }, { kind: 'ftd', player: p, amount: '50', currency: 'EUR' })
    }
    await bind('r1', affs.rs)
    await send('2026-09-01T10:00:00Z', { event: 'registration', event_id: 'reg-r1', player_id: 'r1' }, { kind: 'registration', player: 'r1', affiliate: affs.rs })
    await send('2026-09-15T12:00:00Z', { event: 'activity', event_id: 'act-r1-sep', player_id: 'r1', currency: 'EUR', date: '2026-09-15', bets: '1000', wins: '2000' }, {
      kind: 'activity',
      player: 'r1',
      currency: 'EUR',
      details: { date: '2026-09-15', bets: '1000', wins: '2000' },
    })
    await bind('t1', affs.ib)
    await send('2026-09-01T10:00:00Z', { event: 'registration', event_id: 'reg-t1', player_id: 't1' }, { kind: 'registration', player: 't1', affiliate: affs.ib })
    await send('2026-09-20T14:00:00Z', { event: 'trade', event_id: 'tr-t1', player_id: 't1', currency: 'USD', instrument: 'EURUSD', lots: '57.71' }, {
      kind: 'trade',
      player: 't1',
      currency: 'USD',
      details: { instrument: 'EURUSD', lots: '57.71' },
    })
    const asOf1 = new Date(Date.now() - 60_000).toISOString()
    await close('2026-09', asOf1)
    const sep = await waitFor('September statements', () => statements('?period=2026-09'), (r) => r.body.items.length === 3, 30_000)
    expect(sep.status).toBe(200)

    // the same period again, a period not ended, a bad one
    expect((await app.call('POST', '/api/periods/close', { period: '2026-09' })).status).toBe(409)
    const open = await app.call('POST', '/api/periods/close', { period: new Date().toISOString().slice(0, 7) })
    expect(open.status).toBe(400)
    expect(open.body.reason).toMatch(/closed after it ends/)
    expect((await app.call('POST', '/api/periods/close', { period: '2026-13' })).status).toBe(400)

    // October, and a September event arriving after September's close
    await bind('c3', affs.cpa)
    await send('2026-10-05T10:00:00Z', { event: 'registration', event_id: 'reg-c3', player_id: 'c3' }, { kind: 'registration', player: 'c3', affiliate: affs.cpa })
    await send('2026-10-05T11:00:00Z', { event: 'ftd', event_id: 'ftd-c3', player_id: 'c3', amount: '50', currency: 'EUR' }, { kind: 'ftd', player: 'c3', amount: '50', currency: 'EUR' })
    await send('2026-10-10T12:00:00Z', { event: 'activity', event_id: 'act-r1-oct', player_id: 'r1', currency: 'EUR', date: '2026-10-10', bets: '3000' }, { kind: 'activity', player: 'r1', currency: 'EUR', details: { date: '2026-10-10', bets: '3000' } })
    await send('2026-09-28T12:00:00Z', { event: 'activity', event_id: 'act-r1-late', player_id: 'r1', currency: 'EUR', date: '2026-09-28', bets: '500' }, { kind: 'activity', player: 'r1', currency: 'EUR', details: { date: '2026-09-28', bets: '500' } })
    // October through the command finance runs: it waits for the statements and prints what they pay
    const asOf2 = new Date(Date.now() - 1000).toISOString()
    const cli = await run(process.execPath, ['--import', 'tsx', 'scripts/close.ts', '2026-10', '--as-of', asOf2, '--url', app.url, '--key', TEST_SECRETS.OPERATOR_API_KEY], { timeout: 60_000 })
    events.push({ at: asOf2, close: '2026-10' })
    expect(cli.stdout).toBe('2026-10: 3 statements\n  EUR: pays 850.00, carried 0.00, waiting 0.00 in hold and 0.00 held\n')
    const oct = await statements('?period=2026-10')
    expect(oct.body.items).toHaveLength(3)

    const sim = simulate(ScenarioSchema.parse({ program: { currency: 'EUR' }, affiliates: Object.values(affs).map((id) => ({ id })), deals, events }))
    const want = (period: string) =>
      sim.statements
        .filter((s) => s.period === period)
        .map((s) => ({ affiliateId: s.affiliateId, period, seal: s.seal, lines: s.lines.map((l) => ({ kind: l.kind, amount: l.amount, lines: l.lines })), totals: s.totals }))
    const got = (items: Statement[]) => items.map((s) => ({ affiliateId: s.affiliateId, period: s.period, seal: s.seal, lines: s.lines.map((l) => ({ kind: l.kind, amount: l.amount, lines: l.lines })), totals: s.totals }))
    expect(got(sep.body.items).sort((a, b) => a.affiliateId - b.affiliateId)).toEqual(want('2026-09'))
    expect(got(oct.body.items).sort((a, b) => a.affiliateId - b.affiliateId)).toEqual(want('2026-10'))

    // what they pay: September 200 EUR, 0 (NGR -1,000 carried in the deal), 291.44 USD (rounded once);
    // October 100 EUR; 30% × (3,000 + 500 late − 1,000 carried) = 750 EUR; nothing for the IB
    const payable = (items: Statement[], aff: number) => items.find((s) => s.affiliateId === aff)!.totals.map((t) => `${t.payable} ${t.currency}`)
    expect([payable(sep.body.items, affs.cpa), payable(sep.body.items, affs.rs), payable(sep.body.items, affs.ib)]).toEqual([['200.00 EUR'], [], ['291.44 USD']])
    expect([payable(oct.body.items, affs.cpa), payable(oct.body.items, affs.rs), payable(oct.body.items, affs.ib)]).toEqual([['100.00 EUR'], ['750.00 EUR'], []])

    // the ledger, rounding line and late booking included, is the simulator's
    for (const aff of Object.values(affs)) {
      const lines = (await app.call<{ items: { id: string; hash: string; period: string; reason: string; kind: string }[] }>('GET', `/api/ledger?affiliateId=${aff}`)).body.items
      expect(lines.map((l) => l.hash)).toEqual(sim.lines.filter((l) => l.affiliateId === aff).map((l) => l.hash))
    }
    const rsLines = (await app.call('GET', `/api/ledger?affiliateId=${affs.rs}`)).body.items as { period: string; reason: string }[]
    expect(rsLines.find((l) => l.reason.includes('late'))).toMatchObject({ period: '2026-10' })
    const ibLines = (await app.call('GET', `/api/ledger?affiliateId=${affs.ib}`)).body.items as { kind: string; amount: string }[]
    expect(ibLines.map((l) => [l.kind, l.amount])).toEqual([
      ['ib', '291.4355'],
      ['rounding', '0.0045'],
    ])

    // a statement line drills down to its ledger lines: the IB's rebate and its rounding
    const drill = await app.call('GET', `/api/statements/lines?period=2026-09&affiliateId=${affs.ib}`)
    expect(drill.body.items.map((l: { kind: string; amount: string; statementLine: string }) => [l.kind, l.amount, l.statementLine])).toEqual([
      ['ib', '291.4355', `ib:${deals[2]!.id}:1:USD`],
      ['rounding', '0.0045', `ib:${deals[2]!.id}:1:USD`],
    ])
    expect((await app.call('GET', `/api/statements/lines?period=2026-08&affiliateId=${affs.ib}`)).status).toBe(404)

    // the periods screen's source: both closed, the last month named
    const periods = await app.call('GET', '/api/periods')
    expect(periods.body.lastClosed.month.period).toBe('2026-10')
    expect(periods.body.items.map((p: { period: string; statements: number }) => [p.period, p.statements])).toEqual([
      ['2026-10', 3],
      ['2026-09', 3],
    ])
    expect(periods.body.items[1].totals.map((t: { currency: string; payable: string; carriedOut: string }) => [t.currency, t.payable, t.carriedOut])).toEqual([
      ['EUR', '200.00', '0.00'],
      ['USD', '291.44', '0.00'],
    ])
  }, 120_000)

  it('finance approves a period in bulk, holds one with a note, and every change is audited', async () => {
    const held = await app.call('POST', '/api/statements/hold', { period: '2026-09', affiliateId: affs.rs, note: 'NGR under review' })
    expect(held.status, JSON.stringify(held.body)).toBe(200)
    const bulk = await app.call('POST', '/api/statements/approve', { period: '2026-09' })
    // every draft: the held one stays held
    expect(bulk.body.approved.sort()).toEqual([affs.cpa, affs.ib].sort())
    expect(bulk.body.skipped).toEqual([{ affiliateId: affs.rs, status: 'held', reason: 'held: approve it by name to release it' }])
    const sep = (await statements('?period=2026-09')).body.items as (Statement & { status: string; note?: string; statusBy?: string })[]
    expect(Object.fromEntries(sep.map((s) => [s.affiliateId, [s.status, s.note ?? '']]))).toEqual({
      [affs.cpa]: ['approved', ''],
      [affs.rs]: ['held', 'NGR under review'],
      [affs.ib]: ['approved', ''],
    })
    expect(sep.every((s) => s.statusBy === 'operator')).toBe(true)
    // a held statement is approved when named; approving an approved one changes nothing
    expect((await app.call('POST', '/api/statements/approve', { period: '2026-09', affiliateIds: [affs.rs] })).body.approved).toEqual([affs.rs])
    expect((await app.call('POST', '/api/statements/approve', { period: '2026-09', affiliateIds: [affs.rs] })).body).toMatchObject({ approved: [], skipped: [] })
    // what cannot be: no statement, no note, a period not closed
    expect((await app.call('POST', '/api/statements/hold', { period: '2026-09', affiliateId: 999_999, note: 'x' })).status).toBe(404)
    expect((await app.call('POST', '/api/statements/hold', { period: '2026-09', affiliateId: affs.cpa, note: ' ' })).status).toBe(400)
    expect((await app.call('POST', '/api/statements/approve', { period: '2026-09', affiliateIds: [999_999] })).status).toBe(409)
    expect((await app.call('POST', '/api/statements/approve', { period: '2026-9' })).status).toBe(400)
    const audit = (await app.call('GET', '/api/audit?entity=statement&limit=10')).body.items as { key: string; after: { status: string }; by: string; note?: string }[]
    expect(audit.map((r) => [r.key, r.after.status, r.note ?? ''])).toEqual([
      [`${affs.rs}/2026-09`, 'approved', ''],
      [`${affs.ib}/2026-09`, 'approved', ''],
      [`${affs.cpa}/2026-09`, 'approved', ''],
      [`${affs.rs}/2026-09`, 'held', 'NGR under review'],
    ])
  })

  describe('an affiliate checks its ledger away from the system: npm run verify on the export', () => {
    type Exported = { affiliateId: number; lines: (LedgerLine & { no: number; prevHash: string; hash: string })[]; seals: { period: string; no: number; hash: string }[] }
    const dir = tempDir('verify')
    let exported: Exported
    const verify = async (data: unknown) => {
      const file = join(dir, `${Math.random()}.json`)
      writeFileSync(file, JSON.stringify(data))
      try {
        const r = await run(process.execPath, ['--import', 'tsx', 'scripts/verify.ts', file])
        return { code: 0, out: r.stdout }
      } catch (err) {
        const e = err as { code: number; stdout: string; stderr: string }
        return { code: e.code, out: e.stdout + e.stderr }
      }
    }
    /** lines chained afresh from the first, numbered 1.. (what a forger who shaved a line would do) */
    const rebuilt = (ls: Exported['lines']) => {
      let head = GENESIS
      return ls.map((l, i) => {
        const c = chain(head, { ...l })
        head = c.hash
        return { ...c, no: i + 1 }
      })
    }

    beforeAll(async () => {
      const token = (await app.call('POST', `/api/affiliates/${affs.cpa}/tokens`, {})).body.token
      const r = await api(app.url, token)<Exported>('GET', '/api/ledger/export')
      expect(r.status).toBe(200)
      exported = r.body
      expect(exported.lines).toHaveLength(3) // two September CPAs, one of October
      expect(exported.seals.map((x) => [x.period, x.no])).toEqual([
        ['2026-09', 2],
        ['2026-10', 3],
      ])
    })
    afterAll(() => rmSync(dir, { recursive: true, force: true }))

    it('the export as it came verifies, chain and seals, and the API says the same', async () => {
      expect(await verify(exported)).toEqual({ code: 0, out: `OK: affiliate ${affs.cpa}, 3 lines, each linked to the one before, and 2 statement seals matching; head ${exported.lines[2]!.hash}\n` })
      expect((await app.call('GET', `/api/ledger/verify?affiliateId=${affs.cpa}`)).body).toMatchObject({ ok: true, lines: 3, seals: 2 })
    })

    it.each([
      ['a line removed', (e: Exported) => ({ ...e, lines: e.lines.filter((_, i) => i !== 1) }), /line 2 \(.*\) does not follow the line before it/],
      ['a line altered', (e: Exported) => ({ ...e, lines: e.lines.map((l, i) => (i === 0 ? { ...l, amount: '90' } : l)) }), /line 1 \(.*\) was altered/],
      ['two lines swapped', (e: Exported) => ({ ...e, lines: [e.lines[1]!, e.lines[0]!, e.lines[2]!] }), /line 1 \(.*\) does not follow the line before it/],
      ['a line shaved and the chain rebuilt', (e: Exported) => ({ ...e, lines: rebuilt(e.lines.filter((_, i) => i !== 0)) }), /the 2026-09 statement's seal does not match/],
      ['the chain cut short after a seal', (e: Exported) => ({ ...e, lines: e.lines.slice(0, 2) }), /the 2026-10 statement's seal does not match: the line it sealed \(number 3\) is missing/],
    ])('%s is found and named', async (_name, tamper, want) => {
      const r = await verify(tamper(exported))
      expect(r.code).toBe(1)
      expect(r.out).toMatch(want)
    })
  })

  it('an affiliate reads its own statements, never another’s', async () => {
    const token = (await app.call('POST', `/api/affiliates/${affs.cpa}/tokens`, {})).body.token
    const aff = api(app.url, token)
    const own = await aff<{ items: Statement[] }>('GET', '/api/statements')
    expect(own.status, JSON.stringify(own.body)).toBe(200)
    expect(own.body.items.map((s) => [s.affiliateId, s.period])).toEqual([
      [affs.cpa, '2026-10'],
      [affs.cpa, '2026-09'],
    ])
    expect((await aff('GET', `/api/statements?affiliateId=${affs.rs}`)).status).toBe(403)
    expect((await aff('GET', `/api/statements/lines?period=2026-09&affiliateId=${affs.rs}`)).status).toBe(403)
    const mine = await aff<{ items: { kind: string; statementLine?: string }[] }>('GET', '/api/statements/lines?period=2026-09')
    expect(mine.body.items.map((l) => [l.kind, l.statementLine])).toEqual([
      ['cpa', `cpa:${deals[0]!.id}:1:EUR`],
      ['cpa', `cpa:${deals[0]!.id}:1:EUR`],
    ])
    expect((await aff('POST', '/api/periods/close', { period: '2026-08' })).status).toBe(403)
    expect((await aff('GET', '/api/periods')).status).toBe(403)
    expect((await aff('POST', '/api/statements/approve', { period: '2026-09' })).status).toBe(403)
    expect((own.body.items as (Statement & { status: string })[]).map((s) => s.status)).toEqual(['draft', 'approved'])
  })

  it('payment details are validated; approved statements become a payout batch per method, exported as CSV and SEPA, and marked paid', async () => {
    // details: a bad IBAN is named; the affiliate sets its own; another's is refused
    const bad = await app.call('PUT', `/api/affiliates/${affs.cpa}/payment`, { method: 'bank', holder: 'Settle cpa GmbH', iban: 'DE89 3704 0044 0532 0130 01' })
    expect(bad.status).toBe(400)
    expect(bad.body.fields).toHaveProperty(['iban'])
    expect((await app.call('PUT', `/api/affiliates/${affs.ib}/payment`, { method: 'crypto', network: 'BTC', address: 'not-an-address' })).status).toBe(400)
    const token = (await app.call('POST', `/api/affiliates/${affs.cpa}/tokens`, {})).body.token
    const own = await api(app.url, token)('PUT', `/api/affiliates/${affs.cpa}/payment`, { method: 'bank', holder: 'Settle cpa GmbH', iban: 'DE89 3704 0044 0532 0130 00', bic: 'cobadeffxxx' })
    expect(own.status, JSON.stringify(own.body)).toBe(200)
    expect(own.body.payment).toEqual({ method: 'bank', holder: 'Settle cpa GmbH', iban: 'DE89370400440532013000', bic: 'COBADEFFXXX' })
    expect(own.body.paymentHistory.at(-1)).toMatchObject({ by: `affiliate:${affs.cpa}`, details: 'bank transfer to Settle cpa GmbH, IBAN DE89…3000' })
    expect((await api(app.url, token)('PUT', `/api/affiliates/${affs.ib}/payment`, { method: 'ewallet', provider: 'paypal', account: 'x@y.example' })).status).toBe(403)
    expect((await app.call('PUT', `/api/affiliates/${affs.ib}/payment`, { method: 'ewallet', provider: 'paypal', account: 'ib@partner.example' })).status).toBe(200)

    // September's approved statements: the CPA affiliate by bank in EUR, the IB by PayPal in USD
    const batch = await app.call('POST', '/api/payouts', { period: '2026-09', method: 'bank', currency: 'EUR' })
    expect(batch.status, JSON.stringify(batch.body)).toBe(201)
    expect(batch.body).toMatchObject({ method: 'bank', currency: 'EUR', total: '200.00', status: 'created', items: [{ affiliateId: affs.cpa, amount: '200.00', payee: 'bank transfer to Settle cpa GmbH, IBAN DE89…3000' }] })
    expect((await app.call('POST', '/api/payouts', { period: '2026-09', method: 'bank', currency: 'EUR' })).status).toBe(409) // each statement in one batch
    const usd = await app.call('POST', '/api/payouts', { period: '2026-09', method: 'ewallet', currency: 'USD' })
    expect(usd.body).toMatchObject({ total: '291.44', items: [{ affiliateId: affs.ib, amount: '291.44' }] })
    const id = batch.body.id as string
    const csv = await fetch(`${app.url}/api/payouts/${id}/csv`, { headers: { authorization: `Bearer ${TEST_SECRETS.OPERATOR_API_KEY}` } }).then((r) => r.text())
    expect(csv.split('\r\n')).toEqual([
      'affiliate_id,name,period,amount,currency,method,holder_or_provider,iban_or_account_or_address,bic_or_network,reference',
      `${affs.cpa},Settle cpa,2026-09,200.00,EUR,bank,Settle cpa GmbH,DE89370400440532013000,COBADEFFXXX,${affs.cpa}/2026-09`,
      '',
    ])
    const xml = await fetch(`${app.url}/api/payouts/${id}/sepa`, { headers: { authorization: `Bearer ${TEST_SECRETS.OPERATOR_API_KEY}` } }).then((r) => r.text())
    expect(xml).toContain('<CtrlSum>200.00</CtrlSum>')
    expect(xml).toContain('<InstdAmt Ccy="EUR">200.00</InstdAmt>')
    expect(xml).toContain('<IBAN>DE89370400440532013000</IBAN>')
    expect(xml).toContain('<DbtrAcct><Id><IBAN>DE02120300000000202051</IBAN></Id></DbtrAcct>')
    expect((await app.call('GET', `/api/payouts/${usd.body.id}/sepa`)).status).toBe(409) // SEPA is for bank transfers in euro

    // paid: the statement is paid, and the ledger has the payment, which no statement takes
    const paid = await app.call('POST', `/api/payouts/${id}/paid`)
    expect(paid.status, JSON.stringify(paid.body)).toBe(200)
    expect(paid.body.status).toBe('paid')
    expect((await app.call('POST', `/api/payouts/${id}/paid`)).status).toBe(409)
    const st = (await statements(`?period=2026-09&affiliateId=${affs.cpa}`)).body.items[0] as Statement & { status: string }
    expect(st.status).toBe('paid')
    const pay = await waitFor(
      'the payment line',
      async () => ((await app.call('GET', `/api/ledger?affiliateId=${affs.cpa}`)).body.items as { id: string; kind: string; amount: string; reason: string }[]).find((l) => l.kind === 'payment'),
      (l) => l !== undefined,
      20_000,
    )
    expect(pay).toMatchObject({ id: `pay:${id}-${affs.cpa}`, amount: '-200', reason: `Paid 200.00 EUR: statement 2026-09, payout batch ${id}, bank transfer to Settle cpa GmbH, IBAN DE89…3000` })
    expect((await app.call('GET', `/api/ledger/verify?affiliateId=${affs.cpa}`)).body).toMatchObject({ ok: true })
    expect((await app.call('GET', '/api/payouts?period=2026-09')).body.items.map((b: { id: string; status: string }) => [b.id, b.status]).sort()).toEqual(
      [
        [id, 'paid'],
        [usd.body.id, 'created'],
      ].sort(),
    )
    expect((await api(app.url, token)('GET', '/api/payouts')).status).toBe(403)

    // two batches asked for at once: every statement lands in exactly one of them
    expect((await app.call('PUT', `/api/affiliates/${affs.rs}/payment`, { method: 'bank', holder: 'Settle rs Ltd', iban: 'GB82 WEST 1234 5698 7654 32' })).status).toBe(200)
    expect((await app.call('POST', '/api/statements/approve', { period: '2026-10' })).status).toBe(200)
    const both = await Promise.all([0, 1].map(() => app.call('POST', '/api/payouts', { period: '2026-10', method: 'bank', currency: 'EUR' })))
    const paidOut = both.filter((r) => r.status === 201).flatMap((r) => r.body.items.map((i: { affiliateId: number; amount: string }) => [i.affiliateId, i.amount]))
    expect(paidOut.sort()).toEqual(
      [
        [affs.cpa, '100.00'],
        [affs.rs, '750.00'],
      ].sort(),
    )
    expect(both.every((r) => r.status === 201 || r.status === 409)).toBe(true)
  })

  it('a statement prints as a self-billing invoice, HTML or PDF, with the statement’s totals, deal versions and seal', async () => {
    const get = (path: string, key = TEST_SECRETS.OPERATOR_API_KEY) => fetch(`${app.url}${path}`, { headers: { authorization: `Bearer ${key}` } })
    const html = await get(`/api/statements/invoice?period=2026-09&affiliateId=${affs.ib}&format=html`)
    expect(html.status).toBe(200)
    expect(html.headers.get('content-type')).toMatch(/text\/html/)
    const text = await html.text()
    const st = (await statements(`?period=2026-09&affiliateId=${affs.ib}`)).body.items[0]!
    expect(text).toContain(`<td class="n" data-total="USD"><b>291.44 USD</b></td>`)
    expect(st.totals[0]).toMatchObject({ currency: 'USD', payable: '291.44' })
    expect(text).toContain('ib deal (v1)')
    expect(text).toContain(st.seal.hash)
    const pdf = await get(`/api/statements/invoice?period=2026-09&affiliateId=${affs.ib}`)
    expect(pdf.status).toBe(200)
    expect(pdf.headers.get('content-type')).toBe('application/pdf')
    expect(Buffer.from(await pdf.arrayBuffer()).subarray(0, 5).toString()).toBe('%PDF-')
    expect((await get(`/api/statements/invoice?period=2026-08&affiliateId=${affs.ib}`)).status).toBe(404)
    const token = (await app.call('POST', `/api/affiliates/${affs.cpa}/tokens`, {})).body.token
    expect((await get(`/api/statements/invoice?period=2026-09&affiliateId=${affs.ib}`, token)).status).toBe(403)
    expect((await get('/api/statements/invoice?period=2026-09&format=html', token)).status).toBe(200)
  })

  it('finance adjusts a balance by hand, with a reason: a ledger line of the open month, audited', async () => {
    const r = await app.call('POST', '/api/adjustments', { affiliateId: affs.ib, amount: '-25.50', currency: 'USD', reason: 'wire fee of the September payment' })
    expect(r.status, JSON.stringify(r.body)).toBe(202)
    const line = await waitFor(
      'the adjustment in the ledger',
      async () => ((await app.call('GET', `/api/ledger?affiliateId=${affs.ib}`)).body.items as { id: string; kind: string; amount: string; period: string; reason: string }[]).find((l) => l.id === r.body.line),
      (l) => l !== undefined,
      20_000,
    )
    // the open month: October is the last closed
    expect(line).toMatchObject({ kind: 'adjustment', amount: '-25.5', period: '2026-11', reason: 'Manual adjustment -25.50 USD by operator: wire fee of the September payment' })
    expect((await app.call('GET', `/api/ledger/verify?affiliateId=${affs.ib}`)).body).toMatchObject({ ok: true })
    const audit = (await app.call('GET', '/api/audit?entity=statement&limit=1')).body.items[0]
    expect(audit).toMatchObject({ key: `${affs.ib}/adjustment`, action: 'create', note: 'wire fee of the September payment', after: { line: r.body.line, amount: '-25.50' } })
    for (const [body, field] of [
      [{ affiliateId: affs.ib, amount: '0.00', currency: 'USD', reason: 'x' }, 'amount'],
      [{ affiliateId: affs.ib, amount: '5', currency: 'USD', reason: ' ' }, 'reason'],
      [{ affiliateId: affs.ib, amount: '5', currency: 'XYZ', reason: 'x' }, 'currency'],
      [{ affiliateId: 999_999, amount: '5', currency: 'USD', reason: 'x' }, 'affiliateId'],
    ] as const) {
      const bad = await app.call('POST', '/api/adjustments', body)
      expect(bad.status, JSON.stringify(bad.body)).toBe(400)
      expect(bad.body.fields).toHaveProperty([field])
    }
    const token = (await app.call('POST', `/api/affiliates/${affs.ib}/tokens`, {})).body.token
    expect((await api(app.url, token)('POST', '/api/adjustments', { affiliateId: affs.ib, amount: '5', currency: 'USD', reason: 'x' })).status).toBe(403)
  })
})
