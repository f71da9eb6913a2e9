import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { eventRowTsv, mapText, parseEventTsv, tsvField, type EventRow } from './rows.js'

const base: EventRow = {
  event_id: 'e1',
  kind: 'click',
  ts: '2026-11-24 09:26:40.537',
  affiliate_id: 7,
  link_id: 3,
  offer_id: 0,
  source_id: 0,
  click_id: '',
  player_ref: '',
  amount: '0',
  currency: '',
  status: 'valid',
  reason: '',
  ip: '1.2.3.4',
  ua: 'UA',
  referer: '',
  sub1: '',
  sub2: '',
  sub3: '',
  sub4: '',
  sub5: '',
  params: {},
  stream_seq: 42,
  stream_idx: 1,
}

describe('TabSeparated rows', () => {
  it.each<[string, string]>([
    ['plain', 'plain'],
    ['tab\there', 'tab\\there'],
    ['new\nline', 'new\\nline'],
    ['carriage\rreturn', 'carriage\\rreturn'],
    ['back\\slash', 'back\\\\slash'],
    ['\\t literal', '\\\\t literal'],
  ])('escapes %j as %j', (input, want) => {
    expect(tsvField(input)).toBe(want)
  })

  it('writes a Map in ClickHouse text form with quotes and backslashes escaped', () => {
    expect(mapText({})).toBe('{}')
    expect(mapText({ a: '1', "it's": 'c:\\x', t: 'a\tb' })).toBe("{'a':'1','it\\'s':'c:\\\\x','t':'a\\tb'}")
  })

  it('one line per row, fields in column order', () => {
    const line = eventRowTsv({ ...base, sub1: 'a\tb', params: { k: 'v' } })
    expect(line.endsWith('\n')).toBe(true)
    expect(line.slice(0, -1).split('\t')).toHaveLength(24)
    expect(line).toContain('a\\tb')
  })

  it('round-trips any strings (property)', () => {
    const text = fc.string({ unit: 'binary', maxLength: 40 })
    fc.assert(
      fc.property(text, text, text, fc.dictionary(text, text, { maxKeys: 5 }), (ua, sub1, referer, params) => {
        const row = { ...base, ua, sub1, referer, params }
        expect(parseEventTsv(eventRowTsv(row))).toEqual([row])
      }),
      { numRuns: 500 },
    )
  })
})
