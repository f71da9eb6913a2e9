/**
 * The schema and the insert path against chDB: migrations apply once; a retried insert is
 * dropped by the table and by the materialized views; TabSeparated rows with hostile
 * strings come back byte for byte.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventRowTsv, EVENT_COLUMNS, type EventRow } from '../processor/rows.js'
import { tempDir } from '../test/helpers/config.js'
import { clickRow } from '../test/helpers/rows.js'
import { createChdb, insertFormatted, queryRows, type ClickHouseClient } from './client.js'
import { loadMigrations, migrate } from './migrate.js'

const dir = tempDir('ch')
let ch: ClickHouseClient

beforeAll(async () => {
  ch = createChdb(join(dir, 'ch'))
})
afterAll(async () => {
  await ch.close()
  rmSync(dir, { recursive: true, force: true })
})

const row = (i: number, over: Partial<EventRow> = {}): EventRow =>
  clickRow({ event_id: `e${i}`, affiliate_id: 1 + (i % 3), link_id: 1, ip: '10.0.0.1', stream_seq: i, stream_idx: 0, ...over })

describe('clickhouse schema', () => {
  it('applies every migration once, and a second run applies none', async () => {
    const first = await migrate(ch)
    expect(first).toEqual(loadMigrations().map((m) => m.version))
    expect(await migrate(ch)).toEqual([])
    const tables = (await queryRows<{ name: string }>(ch, 'SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name')).map((t) => t.name)
    expect(tables).toEqual(
      expect.arrayContaining([
        'events',
        'ledger',
        'events_minute',
        'events_minute_mv',
        'commission_minute',
        'ledger_lines',
        'processed_batches',
        'schema_migrations',
      ]),
    )
  })

  it('drops a retried insert in the table and in the rollup, by token', async () => {
    const body = Array.from({ length: 100 }, (_, i) => eventRowTsv(row(i))).join('')
    for (let k = 0; k < 3; k++) await insertFormatted(ch, { table: 'events', columns: EVENT_COLUMNS, format: 'TabSeparated', body, token: 'test:1-100:events' })
    const [raw] = await queryRows<{ n: string }>(ch, "SELECT toString(count()) n FROM events WHERE event_id LIKE 'e%'")
    const [rollup] = await queryRows<{ n: string }>(ch, "SELECT toString(sum(events)) n FROM events_minute WHERE kind = 'click'")
    expect(raw!.n).toBe('100')
    expect(rollup!.n).toBe('100')
    // A different token is a different batch: it counts.
    await insertFormatted(ch, { table: 'events', columns: EVENT_COLUMNS, format: 'TabSeparated', body: eventRowTsv(row(1000)), token: 'test:1000-1000:events' })
    const [after] = await queryRows<{ n: string }>(ch, "SELECT toString(sum(events)) n FROM events_minute WHERE kind = 'click'")
    expect(after!.n).toBe('101')
  })

  it('stores hostile strings exactly', async () => {
    const nasty = ['tab\there', 'line\nbreak', 'cr\rhere', 'back\\slash', "quote'd", '{"json":true}', 'ünïcødé ✓ 🎰', '\\N', '']
    const rows = nasty.map((s, i) => row(5000 + i, { event_id: `nasty-${i}`, ua: s, sub1: s, referer: s, params: { [s || 'empty']: s, plain: 'x' } }))
    await insertFormatted(ch, { table: 'events', columns: EVENT_COLUMNS, format: 'TabSeparated', body: rows.map(eventRowTsv).join(''), token: 'test:nasty' })
    const back = await queryRows<{ event_id: string; ua: string; sub1: string; referer: string; params: Record<string, string> }>(
      ch,
      "SELECT event_id, ua, sub1, referer, params FROM events WHERE event_id LIKE 'nasty-%' ORDER BY stream_seq",
    )
    expect(back).toEqual(rows.map((r) => ({ event_id: r.event_id, ua: r.ua, sub1: r.sub1, referer: r.referer, params: r.params })))
  })
})
