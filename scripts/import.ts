/**
 * npm run import -- <affiliates|links|players|fx> <file.csv> [--dry-run] [--url URL] [--key KEY]
 *
 * Moves a program from another platform: affiliates (external_id, name, email), links with
 * their legacy codes (code, affiliate_external_id or affiliate_id, destination) and player
 * bindings (player_id, link_code); and FX rates per day (date, from, to, rate). Sends the rows to a running instance in chunks, shows
 * progress, prints every row it could not take with the reason, and exits 1 if there were
 * any. --dry-run reports what would change and changes nothing.
 *
 * The operator key comes from --key, OPERATOR_API_KEY, or DATA_DIR/secrets.json (embedded).
 */
import { readFileSync } from 'node:fs'
import { SingleBar } from 'cli-progress'
import { csvRecords } from '../common/csv.js'
import { operatorTarget } from './operator.js'

const CHUNK = 500
const args = process.argv.slice(2)
const dryRun = args.includes('--dry-run')
if (dryRun) args.splice(args.indexOf('--dry-run'), 1)
const usage = 'usage: npm run import -- <affiliates|links|players|fx> <file.csv> [--dry-run] [--url URL] [--key KEY]\n'
const { url, key } = operatorTarget(args)
const [kind, file] = args
if (!kind || !file || !['affiliates', 'links', 'players', 'fx'].includes(kind)) {
  process.stderr.write(usage)
  process.exit(2)
}

let records: Record<string, string>[]
try {
  records = csvRecords(readFileSync(file, 'utf8')).records
} catch (err) {
  process.stderr.write(`${file}: ${(err as Error).message}\n`)
  process.exit(2)
}

// A bar redrawn in place on a terminal; when piped (CI logs, tests), a line every 2 s and the last.
const bar = new SingleBar({
  stream: process.stderr,
  format: `${dryRun ? 'dry run ' : ''}${kind} [{bar}] {value}/{total}`,
  barsize: 30,
  barCompleteChar: '#',
  barIncompleteChar: '.',
  noTTYOutput: true,
  formatValue: (v) => v.toLocaleString('en'),
  hideCursor: true,
})

const counts: Record<string, number> = {}
let errors = 0
bar.start(records.length, 0)
for (let i = 0; i < records.length; i += CHUNK) {
  const rows = records.slice(i, i + CHUNK)
  // Row numbers as in the file: the header is line 1.
  const r = await fetch(`${url}/api/import/${kind}?dryRun=${dryRun}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ rows, firstRow: i + 2 }),
  })
  const body = (await r.json()) as { results?: { row: number; action: string; error?: string }[]; reason?: string }
  if (!r.ok || !body.results) {
    bar.stop()
    process.stderr.write(`\n${url} answered ${r.status}: ${body.reason ?? JSON.stringify(body)}\n`)
    process.exit(1)
  }
  for (const x of body.results) {
    counts[x.action] = (counts[x.action] ?? 0) + 1
    if (x.action === 'error') {
      errors++
      process.stdout.write(`line ${x.row}: ${x.error}\n`)
    }
  }
  bar.update(Math.min(i + CHUNK, records.length))
}
bar.stop()
const verb = dryRun ? 'would ' : ''
process.stderr.write(
  `${records.length} rows: ${Object.entries(counts)
    .map(([a, n]) => `${n} ${a === 'error' ? 'refused' : `${verb}${a}`}`)
    .join(', ')}\n`,
)
process.exit(errors > 0 ? 1 : 0)
