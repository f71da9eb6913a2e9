/**
 * npm run close -- <period> [--as-of TIME] [--rounding half_even|half_up|down] [--threshold EUR=50,USD=50] [--no-wait] [--url URL] [--key KEY]
 *
 * Closes a settlement period (a month such as 2026-10, or an ISO week such as 2026-W42 for
 * weekly deals) on a running instance, as finance's screen does: the close enters the event
 * stream, and the processor turns the period into statements when it reaches it. Waits until
 * the statements are there (unless --no-wait) and prints what they pay per currency. Exits 1
 * with the reason when the instance refuses the close.
 *
 * The operator key comes from --key, OPERATOR_API_KEY, or DATA_DIR/secrets.json (embedded).
 */
import { operatorTarget, takeFlag } from './operator.js'

const args = process.argv.slice(2)
const usage =
  'usage: npm run close -- <period> [--as-of TIME] [--rounding half_even|half_up|down] [--threshold EUR=50,USD=50] [--no-wait] [--url URL] [--key KEY]\n'
const { url, key } = operatorTarget(args)
const asOf = takeFlag(args, '--as-of')
const rounding = takeFlag(args, '--rounding')
const thresholdArg = takeFlag(args, '--threshold')
const wait = !args.includes('--no-wait')
if (!wait) args.splice(args.indexOf('--no-wait'), 1)
const [period, ...rest] = args
if (!period || rest.length > 0) {
  process.stderr.write(usage)
  process.exit(2)
}
let threshold: Record<string, string> | undefined
if (thresholdArg) {
  threshold = {}
  for (const part of thresholdArg.split(',')) {
    const [currency, amount] = part.split('=')
    if (!currency || !amount) {
      process.stderr.write(`--threshold: "${part}" is not CURRENCY=AMOUNT (such as EUR=50)\n`)
      process.exit(2)
    }
    threshold[currency.trim()] = amount.trim()
  }
}

const call = async (method: string, path: string, body?: unknown) => {
  const r = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  })
  return { status: r.status, body: (await r.json()) as Record<string, unknown> }
}

const r = await call('POST', '/api/periods/close', {
  period,
  ...(asOf ? { asOf } : {}),
  ...(rounding ? { rounding } : {}),
  ...(threshold ? { threshold } : {}),
})
if (r.status !== 202) {
  process.stderr.write(`${url} refused the close (${r.status}): ${String(r.body.reason ?? JSON.stringify(r.body))}\n`)
  process.exit(1)
}
process.stderr.write(`close of ${period} accepted (stream position ${String(r.body.seq)})\n`)
if (!wait) process.exit(0)

type Periods = {
  items: { period: string; statements: number; totals: { currency: string; payable: string; carriedOut: string; pending: string; held: string }[] }[]
}
const deadline = Date.now() + 10 * 60_000
for (;;) {
  const p = (await call('GET', '/api/periods')).body as unknown as Periods
  const done = p.items.find((x) => x.period === period)
  if (done) {
    process.stdout.write(`${period}: ${done.statements} statement${done.statements === 1 ? '' : 's'}\n`)
    for (const t of done.totals)
      process.stdout.write(`  ${t.currency}: pays ${t.payable}, carried ${t.carriedOut}, waiting ${t.pending} in hold and ${t.held} held\n`)
    process.exit(0)
  }
  if (Date.now() > deadline) {
    process.stderr.write(`no statements for ${period} after 10 minutes: is the processor running? (GET /api/status)\n`)
    process.exit(1)
  }
  await new Promise((res) => setTimeout(res, 500))
}
