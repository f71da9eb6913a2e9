/**
 * npm run simulate -- FILE.scenario.json [--lines=false]
 *
 * Runs a commission scenario through the two stages' pure functions (processor/simulator.ts)
 * and prints one JSON document: the ledger lines, the totals per affiliate and period, each
 * affiliate's chain head and the ledger's hash. A scenario that does not parse is refused
 * with every problem and its path.
 */
import { readFileSync } from 'node:fs'
import { ScenarioSchema, simulate } from '../processor/simulator.js'

const [file, ...flags] = process.argv.slice(2)
if (!file) {
  process.stderr.write('usage: npm run simulate -- FILE.scenario.json [--lines=false]\n')
  process.exit(2)
}
let raw: unknown
try {
  raw = JSON.parse(readFileSync(file, 'utf8'))
} catch (err) {
  process.stderr.write(`${file}: ${(err as Error).message}\n`)
  process.exit(2)
}
const parsed = ScenarioSchema.safeParse(raw)
if (!parsed.success) {
  for (const i of parsed.error.issues) process.stderr.write(`${file}: ${i.path.join('.') || '(top)'}: ${i.message}\n`)
  process.exit(2)
}
const r = simulate(parsed.data)
const out = flags.includes('--lines=false') ? { ...r, lines: undefined } : r
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`)
