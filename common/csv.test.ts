import { describe, expect, it } from 'vitest'
import { csvRecords, parseCsv } from './csv.js'

describe('parseCsv', () => {
  it.each<[string, string, string[][]]>([
    [
      'plain',
      'a,b\n1,2\n',
      [
        ['a', 'b'],
        ['1', '2'],
      ],
    ],
    [
      'CRLF and no final newline',
      'a,b\r\n1,2',
      [
        ['a', 'b'],
        ['1', '2'],
      ],
    ],
    [
      'quoted comma, quote and newline',
      'a,b\n"x, y","say ""hi""\nthere"\n',
      [
        ['a', 'b'],
        ['x, y', 'say "hi"\nthere'],
      ],
    ],
    [
      'empty fields',
      'a,b,c\n,,\n',
      [
        ['a', 'b', 'c'],
        ['', '', ''],
      ],
    ],
    ['blank lines skipped', 'a\n\n1\n\n', [['a'], ['1']]],
    [
      'UTF-8 BOM dropped',
      '\uFEFFa,b\n1,2',
      [
        ['a', 'b'],
        ['1', '2'],
      ],
    ],
    ['non-ASCII kept', 'name\nJosé Müller\n', [['name'], ['José Müller']]],
  ])('%s', (_n, text, want) => {
    expect(parseCsv(text)).toEqual(want)
  })

  it('refuses an unterminated quote', () => {
    expect(() => parseCsv('a\n"open')).toThrow(/unterminated/)
  })

  it('names the line of a malformed field', () => {
    expect(() => parseCsv('a,b\n1,2\n"x"y,3\n')).toThrow(/^line 3: /)
  })

  it('records by lower-cased, trimmed header; missing cells are empty', () => {
    expect(csvRecords(' Player_ID ,Link_Code\np1, old-1 \np2\n')).toEqual({
      columns: ['player_id', 'link_code'],
      records: [
        { player_id: 'p1', link_code: 'old-1' },
        { player_id: 'p2', link_code: '' },
      ],
    })
  })
})
