/**
 * The ledger's lines as they stand now (clickhouse/ledger.ts), in chDB: a pending line whose
 * hold ended is payable, a reversal counts where the line it reverses counts, and payable +
 * pending + held equals the sum of the lines.
 */
import { describe, expect, it } from 'vitest'
import { chTime } from '../common/chtime.js'
import { statusNow } from '../common/line-status.js'
import { migratedChdb } from '../test/helpers/chdb.js'
import { insertFormatted, queryRows } from './client.js'
import { linesNow } from './ledger.js'

const db = migratedChdb('ch-ledger')

const DAY = 86_400_000
let no = 0
function line(affiliateId: number, id: string, status: string, amount: string, payableAt: number | null, ref = '') {
  no++
  return {
    affiliate_id: affiliateId,
    no,
    line_id: id,
    kind: ref ? 'reversal' : 'cpa',
    status,
    period: '2026-11',
    occurred_at: chTime(Date.now() - 40 * DAY),
    payable_at: payableAt === null ? null : chTime(payableAt),
    deal_id: 'd1',
    deal_version: 1,
    player_key: 'p',
    player_ref: 'r',
    cause_event_id: id,
    original_amount: amount,
    original_currency: 'EUR',
    amount,
    currency: 'EUR',
    fx_rate: '1',
    fx_date: '',
    ref_line_id: ref,
    estimated: 0,
    reason: id,
    stream_seq: no,
    stream_idx: 0,
    fact_n: 0,
    acc_seq: no,
    prev_hash: '0'.repeat(64),
    hash: '0'.repeat(64),
  }
}

describe('linesNow', () => {
  it('a line by its status now: pending until its hold ends, a reversal where what it reverses is; the buckets add up to the sum', async () => {
    const now = Date.now()
    const rows = [
      line(1, 'held-back', 'pending', '100', now + 10 * DAY), // in its hold: pending
      line(1, 'hold-over', 'pending', '40', now - DAY), // its hold has ended: payable
      line(1, 'no-hold', 'payable', '25', now - 40 * DAY),
      line(1, 'suspended', 'held', '60', null),
      line(1, 'rev:held-back', 'reversed', '-100', null, 'held-back'), // a refund in the hold
      line(1, 'rev:suspended', 'reversed', '-60', null, 'suspended'),
      line(1, 'rev:no-hold', 'reversed', '-25', null, 'no-hold'), // after the hold: netted
      line(1, 'rev:hold-over', 'reversed', '-15', null, 'hold-over'), // a part of it
      line(2, 'other', 'pending', '7', now + DAY),
    ]
    await insertFormatted(db.ch, {
      table: 'ledger_lines',
      format: 'JSONEachRow',
      body: rows.map((r) => JSON.stringify(r)).join('\n') + '\n',
      token: 'ledger-now',
    })
    const sums = async (a: string | undefined, params: Record<string, unknown> = {}) =>
      queryRows<{ accrued: string; payable: string; pending: string; held: string; lines: string }>(
        db.ch,
        `SELECT toString(sum(t.amount)) AS accrued, toString(sumIf(t.amount, t.now_status = 'payable')) AS payable,
                toString(sumIf(t.amount, t.now_status = 'pending')) AS pending, toString(sumIf(t.amount, t.now_status = 'held')) AS held,
                toString(count()) AS lines
         FROM ${linesNow(a)}`,
        params,
      )
    expect(await sums('{a:UInt32}', { a: 1 })).toEqual([{ accrued: '25', payable: '25', pending: '0', held: '0', lines: '8' }])
    expect(await sums('{a:UInt32}', { a: 2 })).toEqual([{ accrued: '7', payable: '0', pending: '7', held: '0', lines: '1' }])
    expect(await sums(undefined)).toEqual([{ accrued: '32', payable: '25', pending: '7', held: '0', lines: '9' }])
    const each = await queryRows<{ id: string; s: string }>(db.ch, `SELECT t.line_id AS id, t.now_status AS s FROM ${linesNow('1')} ORDER BY t.no`)
    expect(each.map((r) => [r.id, r.s])).toEqual([
      ['held-back', 'pending'],
      ['hold-over', 'payable'],
      ['no-hold', 'payable'],
      ['suspended', 'held'],
      ['rev:held-back', 'pending'],
      ['rev:suspended', 'held'],
      ['rev:no-hold', 'payable'],
      ['rev:hold-over', 'payable'],
    ])
    // the dashboard's rule (common/line-status.ts) says the same of every line
    const asLine = (r: (typeof rows)[number]) => ({
      status: r.status as 'pending',
      payableAt: r.payable_at === null ? undefined : Date.parse(r.payable_at.replace(' ', 'T') + 'Z'),
      refLineId: r.ref_line_id || undefined,
    })
    const byId = new Map(rows.map((r) => [r.line_id, asLine(r)]))
    const t = Date.now()
    expect(
      rows.filter((r) => r.affiliate_id === 1).map((r) => [r.line_id, statusNow(asLine(r), r.ref_line_id ? byId.get(r.ref_line_id) : undefined, t)]),
    ).toEqual(each.map((r) => [r.id, r.s]))
  })
})
