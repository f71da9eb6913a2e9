/**
 * CSV as the platforms export it (RFC 4180: comma separated, fields optionally in double
 * quotes with "" for a quote inside, CRLF or LF line ends, an optional UTF-8 BOM), parsed by
 * csv-parse. The first row names the columns.
 */
import { parse } from 'csv-parse/sync'

export class CsvError extends Error {}

export function parseCsv(text: string): string[][] {
  try {
    return parse(text, { bom: true, skip_empty_lines: true, relax_column_count: true }) as string[][]
  } catch (err) {
    const e = err as Error & { code?: string; lines?: number }
    // csv-parse names the problem by code; say it in the words an operator reads.
    if (e.code === 'CSV_QUOTE_NOT_CLOSED') throw new CsvError(`unterminated quoted field (opened before line ${e.lines ?? '?'}): close it with "`)
    throw new CsvError(`line ${e.lines ?? '?'}: ${e.message}`)
  }
}

/** Rows as records keyed by the header's column names (trimmed, lower-cased). */
export function csvRecords(text: string): { columns: string[]; records: Record<string, string>[] } {
  const [header, ...rows] = parseCsv(text)
  if (!header) return { columns: [], records: [] }
  const columns = header.map((h) => h.trim().toLowerCase())
  return {
    columns,
    records: rows.map((r) => {
      const rec: Record<string, string> = Object.create(null)
      columns.forEach((c, i) => {
        if (c) rec[c] = (r[i] ?? '').trim()
      })
      return rec
    }),
  }
}
