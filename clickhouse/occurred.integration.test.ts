/**
 * Migration 009 against chDB: `occurred_at` beside `ts` on events and player facts. Rows
 * written before it read as their `ts`; rows the processor writes after it carry their own.
 * (Its own file: chDB holds one data directory per process.)
 */
import { cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { eventRowTsv, EVENT_COLUMNS, type EventRow } from '../processor/rows.js'
import { tempDir } from '../test/helpers/config.js'
import { clickRow } from '../test/helpers/rows.js'
import { createChdb, insertFormatted, queryRows } from './client.js'
import { migrate } from './migrate.js'

const row = (i: number, over: Partial<EventRow> = {}): EventRow =>
  clickRow({ event_id: `e${i}`, affiliate_id: 1, link_id: 1, stream_seq: i, stream_idx: 0, ...over })
describe('occurred_at (migration 009)', () => {
  it('reads rows written before it as their ts; the processor writes it from then on', async () => {
    const base = tempDir('ch-occ')
    const before = join(base, 'before')
    mkdirSync(before)
    for (const f of readdirSync(join(import.meta.dirname, 'migrations'))) if (f < '009') cpSync(join(import.meta.dirname, 'migrations', f), join(before, f))
    const old = createChdb(join(base, 'ch'))
    try {
      await migrate(old, before)
      const columns = EVENT_COLUMNS.filter((c) => c !== 'occurred_at')
      const r = row(1, { event_id: 'old', ts: '2026-11-01 10:00:00.123' })
      const tsv = eventRowTsv(r).split('\t').slice(0, columns.length).join('\t') + '\n'
      await insertFormatted(old, { table: 'events', columns, format: 'TabSeparated', body: tsv, token: 'occ:old' })
      await old.insert({
        table: 'player_facts',
        format: 'JSONEachRow',
        values: [
          {
            event_id: 'old',
            kind: 'deposit',
            ts: '2026-11-01 10:00:00.123',
            day: '2026-11-01',
            affiliate_id: 1,
            player_ref: 'p',
            currency: 'EUR',
            deposits: '5',
          },
        ],
      })
      expect((await migrate(old))[0]).toBe(9)
      await insertFormatted(old, {
        table: 'events',
        columns: EVENT_COLUMNS,
        format: 'TabSeparated',
        body: eventRowTsv(row(2, { event_id: 'new', ts: '2026-11-02 10:00:00.000', occurred_at: '2026-10-30 23:59:59.999' })),
        token: 'occ:new',
      })
      expect(await queryRows(old, 'SELECT event_id, toString(ts) AS ts, toString(occurred_at) AS occurred_at FROM events ORDER BY event_id')).toEqual([
        { event_id: 'new', ts: '2026-11-02 10:00:00.000', occurred_at: '2026-10-30 23:59:59.999' },
        { event_id: 'old', ts: '2026-11-01 10:00:00.123', occurred_at: '2026-11-01 10:00:00.123' },
      ])
      expect(await queryRows(old, 'SELECT toString(occurred_at) AS occurred_at FROM player_facts')).toEqual([{ occurred_at: '2026-11-01 10:00:00.123' }])
      const [t] = await queryRows<{ type: string }>(
        old,
        "SELECT type FROM system.columns WHERE database = currentDatabase() AND table = 'events' AND name = 'occurred_at'",
      )
      expect(t!.type).toBe("DateTime64(3, 'UTC')")
    } finally {
      await old.close()
      rmSync(base, { recursive: true, force: true })
    }
  })
})
