/**
 * The reconcile report against chDB: raw rows and rollups counted by one definition. An
 * operator's reassignment of a player to organic writes a row with status `unattributed`;
 * it is an audit record, not an unattributed conversion, in both counts.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createChdb, insertFormatted, type ClickHouseClient } from '../clickhouse/client.js'
import { migrate } from '../clickhouse/migrate.js'
import { ClickIdSigner } from '../common/clickid.js'
import { encodeEvents, type ConversionEvent, type ReassignEvent } from '../common/events.js'
import { pseudonymizer } from '../common/pseudonym.js'
import { eventSubject } from '../common/subjects.js'
import { computeConversions, type ComputeContext } from '../processor/pipeline.js'
import { EVENT_COLUMNS, parseEventTsv } from '../processor/rows.js'
import { tempDir } from '../test/helpers/config.js'
import { reconcile } from './reports.js'

const dir = tempDir('ch-reconcile')
let ch: ClickHouseClient

beforeAll(async () => {
  ch = createChdb(join(dir, 'ch'))
  await migrate(ch)
})
afterAll(async () => {
  await ch.close()
  rmSync(dir, { recursive: true, force: true })
})

const signer = new ClickIdSigner('reconcile-test-click-secret-01')
const ctx: ComputeContext = { verify: (id) => signer.verify(id), pseudonym: pseudonymizer('reconcile-test-pseudonym'), windowMs: 30 * 86_400_000, ipStorage: 'full', ipKey: 'k' }

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
    const out = computeConversions({ kind: 'conversions', buf, msgs: refs, players: {}, deals: {} }, ctx)
    expect(parseEventTsv(out.eventRows).map((r) => [r.kind, r.status, r.affiliate_id])).toEqual([
      ['registration', 'attributed', 7],
      ['reassign', 'unattributed', 0],
      ['registration', 'unattributed', 0],
    ])
    await insertFormatted(ch, { table: 'events', columns: EVENT_COLUMNS, format: 'TabSeparated', body: out.eventRows, token: 'reconcile-test:1-3:events' })

    const r = await reconcile(ch)
    expect(r.raw.unattributed).toBe(1) // the organic registration, not the move
    expect(r.rollup.unattributed).toBe(r.raw.unattributed)
    expect(r.rollup.registrations).toBe(r.raw.registrations)
    expect(r.rollup.clicks).toBe(r.raw.clicks)
    expect(r.rollup.ftds).toBe(r.raw.ftds)
  })
})
