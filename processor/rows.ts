/**
 * Storage shapes: the `events` row and its TabSeparated text. chDB parses TabSeparated about
 * twice as fast as JSONEachRow for this table (measured: ~75k vs ~40k rows/s), and the rows
 * are written on worker threads, so the main thread only moves bytes.
 *
 * TabSeparated escapes backslash, tab, newline and carriage return in every field. A Map
 * field is written in ClickHouse's text form, {'k':'v'}: ClickHouse reads it with its
 * quoted-string reader, not by unescaping the field first, so the strings inside carry
 * their own escapes (\\ \' \t \n \r) and the field gets no second TSV escaping.
 */

export const EVENT_COLUMNS = [
  'event_id',
  'kind',
  'ts',
  'affiliate_id',
  'link_id',
  'offer_id',
  'source_id',
  'click_id',
  'player_ref',
  'amount',
  'currency',
  'status',
  'reason',
  'ip',
  'ua',
  'referer',
  'sub1',
  'sub2',
  'sub3',
  'sub4',
  'sub5',
  'params',
  'details',
  'stream_seq',
  'stream_idx',
  'country',
  'device',
  'os',
  'browser',
  'is_bot',
  'occurred_at',
] as const

const NUMERIC = new Set(['affiliate_id', 'link_id', 'offer_id', 'source_id', 'stream_seq', 'stream_idx', 'is_bot'])

export type EventRow = {
  event_id: string
  kind: string
  /** DateTime64(3) text, UTC: 2026-11-24 09:26:40.537 */
  ts: string
  affiliate_id: number
  link_id: number
  offer_id: number
  source_id: number
  click_id: string
  player_ref: string
  amount: string
  currency: string
  status: string
  reason: string
  ip: string
  ua: string
  referer: string
  sub1: string
  sub2: string
  sub3: string
  sub4: string
  sub5: string
  params: Record<string, string>
  /** an event's vertical fields (activity, trade, challenge, reversal) as exact strings */
  details: Record<string, string>
  stream_seq: number
  stream_idx: number
  /** a click's visitor, worked out by the processor; empty on conversions */
  country: string
  device: string
  os: string
  browser: string
  is_bot: 0 | 1
  /** DateTime64(3) text, UTC: when it happened (a conversion's occurred time; a click's ts) */
  occurred_at: string
}

const TSV_ESCAPE = /[\\\t\n\r]/g
const TSV_MAP: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' }

export function tsvField(s: string): string {
  return TSV_ESCAPE.test(s) ? ((TSV_ESCAPE.lastIndex = 0), s.replace(TSV_ESCAPE, (c) => TSV_MAP[c]!)) : s
}

const QUOTED_ESCAPE = /[\\'\t\n\r]/g
const QUOTED_MAP: Record<string, string> = { '\\': '\\\\', "'": "\\'", '\t': '\\t', '\n': '\\n', '\r': '\\r' }
function quoted(s: string): string {
  return `'${s.replace(QUOTED_ESCAPE, (c) => QUOTED_MAP[c]!)}'`
}

/** A Map(String, String) in ClickHouse's text form, ready to stand as a TSV field. */
export function mapText(m: Record<string, string>): string {
  let out = '{'
  let first = true
  for (const k in m) {
    if (!first) out += ','
    out += `${quoted(k)}:${quoted(m[k]!)}`
    first = false
  }
  return out + '}'
}

/** A row of plain fields (strings, numbers; null as \N) as one TabSeparated line, in the order
 *  of `columns`: what the inserts of `player_facts` and `ledger_lines` send. */
export function tsvRow<C extends string>(columns: readonly C[], r: Record<C, string | number | null>): string {
  let out = ''
  for (let i = 0; i < columns.length; i++) {
    const v = r[columns[i]!]
    if (i > 0) out += '\t'
    out += v === null ? '\\N' : typeof v === 'number' ? String(v) : tsvField(v)
  }
  return out + '\n'
}

export function eventRowTsv(r: EventRow): string {
  return (
    tsvField(r.event_id) +
    '\t' +
    r.kind +
    '\t' +
    r.ts +
    '\t' +
    r.affiliate_id +
    '\t' +
    r.link_id +
    '\t' +
    r.offer_id +
    '\t' +
    r.source_id +
    '\t' +
    tsvField(r.click_id) +
    '\t' +
    r.player_ref +
    '\t' +
    r.amount +
    '\t' +
    r.currency +
    '\t' +
    r.status +
    '\t' +
    tsvField(r.reason) +
    '\t' +
    tsvField(r.ip) +
    '\t' +
    tsvField(r.ua) +
    '\t' +
    tsvField(r.referer) +
    '\t' +
    tsvField(r.sub1) +
    '\t' +
    tsvField(r.sub2) +
    '\t' +
    tsvField(r.sub3) +
    '\t' +
    tsvField(r.sub4) +
    '\t' +
    tsvField(r.sub5) +
    '\t' +
    mapText(r.params) +
    '\t' +
    mapText(r.details) +
    '\t' +
    r.stream_seq +
    '\t' +
    r.stream_idx +
    '\t' +
    tsvField(r.country) +
    '\t' +
    tsvField(r.device) +
    '\t' +
    tsvField(r.os) +
    '\t' +
    tsvField(r.browser) +
    '\t' +
    r.is_bot +
    '\t' +
    r.occurred_at +
    '\n'
  )
}

// --- reading it back (tests, dead-letter tooling) ---

function unTsv(s: string): string {
  return s.replace(/\\(.)/g, (_m, c: string) => ({ t: '\t', n: '\n', r: '\r', '\\': '\\' })[c] ?? c)
}

function parseMapText(s: string): Record<string, string> {
  const out: Record<string, string> = {}
  let i = 1
  const str = (): string => {
    let v = ''
    i++ // opening quote
    while (s[i] !== "'") {
      if (s[i] === '\\') {
        i++
        v += ({ t: '\t', n: '\n', r: '\r' } as Record<string, string>)[s[i]!] ?? s[i]
        i++
        continue
      }
      v += s[i++]
    }
    i++ // closing quote
    return v
  }
  while (s[i] !== '}') {
    const k = str()
    i++ // ':'
    Object.defineProperty(out, k, { value: str(), enumerable: true, writable: true, configurable: true }) // even for '__proto__'
    if (s[i] === ',') i++
  }
  return out
}

/** Lines written by tsvRow back as records of strings (null for \N): tests and tooling. */
export function parseTsvRows<C extends string>(columns: readonly C[], tsv: string): Record<C, string | null>[] {
  return tsv
    .split('\n')
    .filter((l) => l.length > 0)
    .map((line) => {
      const fields = line.split('\t')
      const row = {} as Record<C, string | null>
      columns.forEach((c, i) => (row[c] = fields[i] === '\\N' ? null : unTsv(fields[i]!)))
      return row
    })
}

export function parseEventTsv(tsv: string): EventRow[] {
  return tsv
    .split('\n')
    .filter((l) => l.length > 0)
    .map((line) => {
      const fields = line.split('\t')
      const row: Record<string, unknown> = {}
      EVENT_COLUMNS.forEach((c, i) => {
        const v = fields[i]!
        row[c] = c === 'params' || c === 'details' ? parseMapText(v) : NUMERIC.has(c) ? Number(v) : unTsv(v)
      })
      return row as EventRow
    })
}
