/**
 * The reconcile report against chDB: raw rows and rollups counted by one definition. An
 * operator's reassignment of a player to organic writes a row with status `unattributed`;
 * it is an audit record, not an unattributed conversion, in both counts.
 */
import { describe, expect, it } from 'vitest'
import { insertFormatted } from '../clickhouse/client.js'
import { ClickIdSigner } from '../common/clickid.js'
import { encodeEvents, type ConversionEvent, type ReassignEvent } from '../common/events.js'
import { pseudonymizer } from '../common/pseudonym.js'
import { eventSubject } from '../common/subjects.js'
import { computeConversions, FACTS_INSERT, type ComputeContext } from '../processor/pipeline.js'
import { EVENT_COLUMNS, parseEventTsv } from '../processor/rows.js'
import { migratedChdb } from '../test/helpers/chdb.js'
import { reconcile } from './reports.js'

const db = migratedChdb('ch-reconcile')

const signer = new ClickIdSigner('reconcile-test-click-secret-01')
const ctx: ComputeContext = {
  verify: (id) => signer.verify(id),
  pseudonym: pseudonymizer('reconcile-test-pseudonym'),
  windowMs: 30 * 86_400_000,
  ipStorage: 'full',
  ipKey: 'k',
}

describe('reconcile', () => {
  it('a reassignment to organic: raw and rollup agree', async () => {
    const ts = Date.now() - 60_000
    const clickId = signer.issue({ ts: ts - 1000, linkId: 3, affiliateId: 7, offerId: 1 })
    const reg: ConversionEvent = { kind: 'registration', id: '1:reg-1', sourceId: 1, eventId: 'reg-1', ts, playerId: 'pat', clickId }
    const move: ReassignEvent = { kind: 'reassign', id: 'ra:1', ts: ts + 1000, playerId: 'pat', affiliateId: 0, by: 'operator', note: 'self-referral' }
    const organic: ConversionEvent = { kind: 'registration', id: '1:reg-2', sourceId: 1, eventId: 'reg-2', ts, playerId: 'quinn' }
    const enc = (e: ConversionEvent | ReassignEvent) => encodeEvents([e])
    const msgs = [
      { seq: 1, subject: eventSubject(0, 'registration'), data: enc(reg) },
      { seq: 2, subject: eventSubject(0, 'reassign'), data: enc(move) },
      { seq: 3, subject: eventSubject(0, 'registration'), data: enc(organic) },
    ]
    let off = 0
    const buf = new Uint8Array(msgs.reduce((n, m) => n + m.data.length, 0))
    const refs = msgs.map((m) => {
      buf.set(m.data, off)
      const r = { seq: m.seq, subject: m.subject, start: off, end: off + m.data.length }
      off += m.data.length
      return r
    })
    const out = computeConversions({ kind: 'conversions', buf, msgs: refs, players: {} }, ctx)
    expect(parseEventTsv(out.eventRows).map((r) => [r.kind, r.status, r.affiliate_id])).toEqual([
      ['registration', 'attributed', 7],
      ['reassign', 'unattributed', 0],
      ['registration', 'unattributed', 0],
    ])
    await insertFormatted(db.ch, { table: 'events', columns: EVENT_COLUMNS, format: 'TabSeparated', body: out.eventRows, token: 'reconcile-test:1-3:events' })

    const r = await reconcile(db.ch)
    expect(r.raw.unattributed).toBe(1) // the organic registration, not the move
    expect(r.rollup.unattributed).toBe(r.raw.unattributed)
    expect(r.rollup.registrations).toBe(r.raw.registrations)
    expect(r.rollup.clicks).toBe(r.raw.clicks)
    expect(r.rollup.ftds).toBe(r.raw.ftds)
  })
})

describe('reconcile: players money', () => {
  it('sums the facts per currency with GGR and NGR, and the per-player-day rollup says the same', async () => {
    const ts = Date.now() - 60_000
    const clickId = signer.issue({ ts: ts - 1000, linkId: 3, affiliateId: 8, offerId: 1 })
    const evs: ConversionEvent[] = [
      { kind: 'registration', id: '1:m-reg', sourceId: 1, eventId: 'm-reg', ts, playerId: 'rae', clickId },
      {
        kind: 'activity',
        id: '1:m-act',
        sourceId: 1,
        eventId: 'm-act',
        ts,
        playerId: 'rae',
        currency: 'EUR',
        details: { date: '2026-11-23', bets: '1000', wins: '850.50', bonuses: '25', fees: '2', adjustments: '-10' },
      },
      { kind: 'chargeback', id: '1:m-cb', sourceId: 1, eventId: 'm-cb', ts, playerId: 'rae', amount: '50', currency: 'EUR' },
    ]
    let off = 0
    const datas = evs.map((e) => encodeEvents([e]))
    const buf = new Uint8Array(datas.reduce((n, d) => n + d.length, 0))
    const refs = evs.map((e, i) => {
      buf.set(datas[i]!, off)
      const r = { seq: 10 + i, subject: eventSubject(0, e.kind), start: off, end: off + datas[i]!.length }
      off += datas[i]!.length
      return r
    })
    const out = computeConversions({ kind: 'conversions', buf, msgs: refs, players: {} }, ctx)
    await insertFormatted(db.ch, { ...FACTS_INSERT, body: out.factRows, token: 'reconcile-test:10-12:player_facts' })
    const r = await reconcile(db.ch)
    expect(r.raw.money.EUR).toMatchObject({
      bets: '1000',
      wins: '850.5',
      bonuses: '25',
      fees: '2',
      adjustments: '-10',
      chargebacks: '50',
      ggr: '149.5',
      ngr: '82.5',
    })
    expect(r.moneyRollup).toEqual(r.raw.money)
  })
})
