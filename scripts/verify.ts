/**
 * npm run verify -- <ledger.json>
 *
 * Checks a ledger exported by GET /api/ledger/export (an affiliate's portal offers it as a
 * download) away from the system that wrote it: every line's hash over its content, each line
 * linked to the one before, and each statement's seal (the chain number and hash it was closed
 * at). Prints what holds, or names the first line removed, altered or out of order, or the
 * statement whose seal no longer matches, and exits 1.
 */
import { readFileSync } from 'node:fs'
import { z } from 'zod'
import { verifySealed, type ChainedLine } from '../common/ledger.js'

const file = process.argv[2]
if (!file || process.argv.length > 3) {
  process.stderr.write('usage: npm run verify -- <ledger.json>   (the file GET /api/ledger/export gives)\n')
  process.exit(2)
}
const Export = z.object({
  affiliateId: z.number().int(),
  lines: z.array(
    z.object({ no: z.number().int().positive(), id: z.string(), hash: z.string(), prevHash: z.string(), affiliateId: z.number().int() }).passthrough(),
  ),
  seals: z.array(z.object({ period: z.string(), no: z.number().int().nonnegative(), hash: z.string() })),
})
let data: z.infer<typeof Export>
try {
  data = Export.parse(JSON.parse(readFileSync(file, 'utf8')))
} catch (err) {
  process.stderr.write(
    `${file}: not a ledger export (${
      err instanceof z.ZodError
        ? err.issues
            .map((i) => `${i.path.join('.')}: ${i.message}`)
            .slice(0, 3)
            .join('; ')
        : (err as Error).message
    })\n`,
  )
  process.exit(2)
}
const lines = data.lines as unknown as (ChainedLine & { no: number })[]
const r = verifySealed(lines, data.seals)
if (r.ok) {
  process.stdout.write(
    `OK: affiliate ${data.affiliateId}, ${r.lines} lines, each linked to the one before, and ${data.seals.length} statement seal${data.seals.length === 1 ? '' : 's'} matching; head ${r.head}\n`,
  )
  process.exit(0)
}
const f = r.first
if ('period' in f) {
  const what =
    f.problem === 'sealed_line_missing' ? `the line it sealed (number ${f.at}) is missing` : `line ${f.at} is not the line it sealed (its hash differs)`
  process.stdout.write(`BROKEN: the ${f.period} statement's seal does not match: ${what}. Lines were removed, changed or rebuilt after it was sealed.\n`)
} else {
  const where = `line ${f.at + 1} (${f.lineId})`
  const what =
    f.problem === 'altered'
      ? 'was altered: its hash does not match its content'
      : f.problem === 'other_affiliate'
        ? 'belongs to another affiliate'
        : 'does not follow the line before it: a line before it was removed, or lines were reordered'
  process.stdout.write(`BROKEN: ${where} ${what}.\n`)
}
process.exit(1)
