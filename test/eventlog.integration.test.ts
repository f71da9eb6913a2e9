/**
 * The event log against real chDB: a conversion row carries the sub-ids of its click and the
 * commission it earned, each only from rows of the conversion's own affiliate, and an
 * affiliate's page shows its own rows with both.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createChdb, insertFormatted, type ClickHouseClient } from '../clickhouse/client.js'
import { migrate } from '../clickhouse/migrate.js'
import { eventRowTsv, EVENT_COLUMNS, type EventRow } from '../processor/rows.js'
import { LINES_INSERT, lineRow } from '../processor/affiliate-compute.js'
import { eventLog } from '../query-api/eventlog.js'
import { tempDir } from './helpers/config.js'
import { clickRow } from './helpers/rows.js'

const dir = tempDir('eventlog')
let ch: ClickHouseClient

const conv = (over: Partial<EventRow>): EventRow =>
  clickRow({ kind: 'registration', status: 'attributed', reason: 'registered', ip: '', ua: '', player_ref: 'p', ...over })

beforeAll(async () => {
  ch = createChdb(join(dir, 'ch'))
  await migrate(ch)
  const rows: EventRow[] = [
    clickRow({ event_id: 'click-a', affiliate_id: 1, ts: '2026-11-24 09:00:00.000', sub1: 'fb', sub3: 'spring', stream_seq: 1 }),
    clickRow({ event_id: 'click-b', affiliate_id: 2, ts: '2026-11-24 09:00:01.000', sub1: 'theirs', stream_seq: 2 }),
    conv({ event_id: 'reg-1', affiliate_id: 1, click_id: 'click-a', ts: '2026-11-24 09:01:00.000', stream_seq: 3 }),
    conv({
      event_id: 'ftd-1',
      kind: 'ftd',
      affiliate_id: 1,
      click_id: 'click-a',
      reason: 'first_deposit',
      amount: '100',
      currency: 'EUR',
      ts: '2026-11-24 09:02:00.000',
      stream_seq: 4,
    }),
    conv({
      event_id: 'dep-1',
      kind: 'deposit',
      affiliate_id: 1,
      click_id: 'click-a',
      reason: 'bound_player',
      amount: '20',
      currency: 'EUR',
      ts: '2026-11-24 09:03:00.000',
      stream_seq: 5,
    }),
    // An unattributed registration naming affiliate 2's click: it must not show that click's sub-ids.
    conv({
      event_id: 'reg-x',
      affiliate_id: 0,
      status: 'unattributed',
      reason: 'bad_signature',
      click_id: 'click-b',
      ts: '2026-11-24 09:04:00.000',
      stream_seq: 6,
    }),
    conv({
      event_id: 'ftd-2',
      kind: 'ftd',
      affiliate_id: 2,
      click_id: 'click-b',
      reason: 'first_deposit',
      amount: '50',
      currency: 'USD',
      ts: '2026-11-24 09:05:00.000',
      stream_seq: 7,
    }),
  ]
  await insertFormatted(ch, {
    table: 'events',
    columns: EVENT_COLUMNS,
    format: 'TabSeparated',
    body: rows.map(eventRowTsv).join(''),
    token: 'test:eventlog:events',
  })
  let no = 0
  const line = (o: { affiliateId: number; id: string; amount: string; currency: string; causeEventId: string }): string =>
    lineRow(
      {
        ...o,
        no: ++no,
        seq: 4,
        idx: 0,
        n: 0,
        occurredAt: Date.parse('2026-11-24T09:02:00Z'),
        period: '2026-11',
        kind: 'cpa',
        dealId: 'd',
        dealVersion: 1,
        playerKey: 'p',
        playerRef: 'p',
        status: 'payable',
        originalAmount: o.amount,
        originalCurrency: o.currency,
        fxRate: '1',
        fxDate: '2026-11-24',
        estimated: false,
        reason: 'test',
        prevHash: '0'.repeat(64),
        hash: '0'.repeat(64),
      },
      1,
    )
  const ledger =
    line({ id: 'cpa:p:1', affiliateId: 1, amount: '50', currency: 'EUR', causeEventId: 'ftd-1' }) +
    // a second line caused by the same event (another currency): both show
    line({ id: 'bonus:p:1', affiliateId: 1, amount: '5.5', currency: 'USD', causeEventId: 'ftd-1' }) +
    line({ id: 'cpa:q:2', affiliateId: 2, amount: '37.55', currency: 'USD', causeEventId: 'ftd-2' })
  await insertFormatted(ch, { ...LINES_INSERT, body: ledger, token: 'test:eventlog:ledger' })
})

afterAll(async () => {
  await ch?.close()
  rmSync(dir, { recursive: true, force: true })
})

const byId = (items: { eventId: string }[]) => Object.fromEntries(items.map((r) => [r.eventId, r])) as Record<string, any>

describe('event log rows', () => {
  it('a conversion shows its click’s sub-ids and the commission it earned', async () => {
    const r = byId((await eventLog(ch, { limit: 100, full: true })).items)
    expect(r['reg-1']).toMatchObject({ sub: { sub1: 'fb', sub3: 'spring' }, commission: [] })
    expect(r['ftd-1']).toMatchObject({
      sub: { sub1: 'fb', sub3: 'spring' },
      commission: [
        { amount: '50', currency: 'EUR' },
        { amount: '5.5', currency: 'USD' },
      ],
    })
    expect(r['dep-1']).toMatchObject({ sub: { sub1: 'fb', sub3: 'spring' }, commission: [] })
    expect(r['ftd-2']).toMatchObject({ sub: { sub1: 'theirs' }, commission: [{ amount: '37.55', currency: 'USD' }] })
    // someone else's click: no sub-ids, no commission
    expect(r['reg-x']).toMatchObject({ sub: {}, commission: [] })
    // a click keeps its own sub-ids and carries no commission field
    expect(r['click-a'].sub).toEqual({ sub1: 'fb', sub3: 'spring' })
    expect(r['click-a'].commission).toBeUndefined()
  })

  it("an affiliate's page: its own rows only, with sub-ids and commission", async () => {
    const page = await eventLog(ch, { limit: 100, full: false, affiliateId: 1 })
    expect(page.items.map((x) => x.eventId).sort()).toEqual(['click-a', 'dep-1', 'ftd-1', 'reg-1'])
    const r = byId(page.items)
    expect(r['ftd-1'].commission).toEqual([
      { amount: '50', currency: 'EUR' },
      { amount: '5.5', currency: 'USD' },
    ])
    expect(JSON.stringify(page)).not.toContain('theirs')
    expect(JSON.stringify(page)).not.toContain('37.55')
  })

  it('filters by kind still apply (the click row is looked up even when clicks are filtered out)', async () => {
    const page = await eventLog(ch, { limit: 100, full: false, affiliateId: 1, kind: 'ftd' })
    expect(page.items).toHaveLength(1)
    expect(page.items[0]).toMatchObject({ eventId: 'ftd-1', sub: { sub1: 'fb', sub3: 'spring' } })
  })
})
