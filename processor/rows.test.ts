import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { clickRow } from '../test/helpers/rows.js'
import { eventRowTsv, mapText, parseEventTsv, parseTsvRows, tsvField, tsvRow } from './rows.js'

const base = clickRow()

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
    const line = eventRowTsv({ ...base, sub1: 'a\tb', params: { k: 'v' }, details: { bets: '10.5', date: '2026-11-23' } })
    expect(line.endsWith('\n')).toBe(true)
    expect(line.slice(0, -1).split('\t')).toHaveLength(31)
    expect(parseEventTsv(line)[0]!.details).toEqual({ bets: '10.5', date: '2026-11-23' })
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

  it('a row of plain fields (facts, ledger lines): numbers as written, null as \\N, any string round-trips (property)', () => {
    const cols = ['id', 'n', 'at'] as const
    expect(tsvRow(cols, { id: 'a\tb', n: 12, at: null })).toBe('a\\tb\t12\t\\N\n')
    // a string that reads like \N is escaped, so it stays a string
    expect(parseTsvRows(cols, tsvRow(cols, { id: '\\N', n: 1, at: '\\N' }))).toEqual([{ id: '\\N', n: '1', at: '\\N' }])
    const text = fc.string({ unit: 'binary', maxLength: 40 })
    fc.assert(
      fc.property(text, fc.option(text), (id, at) => {
        expect(parseTsvRows(cols, tsvRow(cols, { id, n: 7, at }))).toEqual([{ id, n: '7', at }])
      }),
      { numRuns: 500 },
    )
  })
})
