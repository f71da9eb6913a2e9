/**
 * CSV as the platforms export it (RFC 4180): comma separated, fields optionally in double
 * quotes with "" for a quote inside, CRLF or LF line ends, an optional UTF-8 BOM. The first
 * row names the columns.
 */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let field = ''
  let quoted = false
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0
  for (; i < text.length; i++) {
    const c = text[i]!
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') (field += '"'), i++
        else quoted = false
      } else field += c
    } else if (c === '"' && field === '') quoted = true
    else if (c === ',') row.push(field), (field = '')
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++
      row.push(field)
      field = ''
      if (row.length > 1 || row[0] !== '') rows.push(row)
      row = []
    } else field += c
  }
  if (quoted) throw new Error('unterminated quoted field at the end of the file')
  row.push(field)
  if (row.length > 1 || row[0] !== '') rows.push(row)
  return rows
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
