/**
 * The printable self-billing statement of an affiliate's period (an invoice the program issues
 * on the affiliate's behalf): HTML, and PDF printed from it by Debian's Chromium. Its totals are
 * the statement's own; it lists the deal versions its lines were paid under and every FX rate
 * its ledger lines used, and carries the statement's seal so the affiliate can tie it to its
 * ledger.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { D, roundMinor } from '../common/money.js'

const run = promisify(execFile)

export type InvoiceData = {
  programName: string
  affiliate: { id: number; name: string; email?: string }
  period: string
  asOf: number
  status: string
  seal: { no: number; hash: string }
  lines: { kind: string; label: string; deal: string; currency: string; lines: number; amount: string }[]
  totals: { currency: string; carriedIn: string; lines: string; total: string; payable: string; carriedOut: string; pending: string; held: string }[]
  /** every conversion the statement's ledger lines made: from, to, rate, the day it was recorded for */
  fx: { from: string; to: string; rate: string; date: string }[]
}

/** Text for HTML or XML: the five characters that could end it escaped. */
export const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
const amount = (a: string, c: string) => `${roundMinor(a, c)} ${c}`

export function invoiceHtml(d: InvoiceData): string {
  const day = new Date(d.asOf).toISOString().slice(0, 10)
  const rows = d.lines
    .map((l) => `<tr><td>${esc(l.label)}</td><td>${esc(l.deal)}</td><td class="n">${l.lines}</td><td class="n">${esc(amount(l.amount, l.currency))}</td></tr>`)
    .join('')
  const totals = d.totals
    .map(
      (t) =>
        `<tr><td>${esc(t.currency)}</td><td class="n">${esc(amount(t.carriedIn, t.currency))}</td><td class="n">${esc(amount(t.lines, t.currency))}</td><td class="n">${esc(amount(t.total, t.currency))}</td><td class="n" data-total="${esc(t.currency)}"><b>${esc(amount(t.payable, t.currency))}</b></td><td class="n">${esc(amount(t.carriedOut, t.currency))}</td></tr>`,
    )
    .join('')
  const fx = d.fx.length
    ? `<h2>Exchange rates used</h2><table><thead><tr><th>From</th><th>To</th><th class="n">Rate</th><th>Recorded for</th></tr></thead><tbody>${d.fx
        .map((x) => `<tr><td>${esc(x.from)}</td><td>${esc(x.to)}</td><td class="n">${esc(x.rate)}</td><td>${esc(x.date)}</td></tr>`)
        .join('')}</tbody></table>`
    : '<p class="muted">No amount was converted: every line was in its deal\u2019s currency.</p>'
  const waiting = d.totals.filter((t) => !new D(t.pending).isZero() || !new D(t.held).isZero())
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Statement ${esc(d.period)} · ${esc(d.affiliate.name)}</title>
<style>
  body { font: 12px/1.45 system-ui, sans-serif; color: #111; margin: 28px 36px; }
  h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 14px; margin: 22px 0 6px; }
  .muted { color: #555; } table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid #ddd; }
  .n { text-align: right; font-variant-numeric: tabular-nums; } .head { display: flex; justify-content: space-between; gap: 24px; }
  .mono { font-family: ui-monospace, monospace; font-size: 10px; word-break: break-all; }
</style></head>
<body>
<div class="head">
  <div><h1>Self-billing statement</h1><div>${esc(d.programName)}</div></div>
  <div class="n">
    <div>Statement <b>${esc(`${d.affiliate.id}/${d.period}`)}</b></div>
    <div>Period ${esc(d.period)}, closed ${esc(day)}</div>
    <div>Status: ${esc(d.status)}</div>
  </div>
</div>
<h2>Issued on behalf of</h2>
<div>${esc(d.affiliate.name)} (affiliate ${d.affiliate.id})${d.affiliate.email ? `<br>${esc(d.affiliate.email)}` : ''}</div>
<h2>Commission</h2>
<table><thead><tr><th>Line</th><th>Deal (version)</th><th class="n">Ledger lines</th><th class="n">Amount</th></tr></thead><tbody>${rows || '<tr><td colspan="4" class="muted">Nothing payable this period.</td></tr>'}</tbody></table>
<h2>Totals</h2>
<table><thead><tr><th>Currency</th><th class="n">Carried in</th><th class="n">This statement</th><th class="n">Total</th><th class="n">Payable</th><th class="n">Carried forward</th></tr></thead><tbody>${totals}</tbody></table>
${waiting.length ? `<p class="muted">Still in a hold or held for review, for a later statement: ${waiting.map((t) => `${esc(amount(t.pending, t.currency))} in a hold, ${esc(amount(t.held, t.currency))} held`).join('; ')}.</p>` : ''}
${fx}
<h2>Verification</h2>
<p class="muted">Each amount is rounded once, on its statement line. The statement seals the affiliate's hash-chained ledger at line ${d.seal.no}: <span class="mono">${esc(d.seal.hash)}</span>. The ledger and seals can be downloaded and checked on any machine.</p>
</body></html>
`
}

/** Print HTML to PDF with Chromium (headless, its own temporary profile). */
export async function printPdf(html: string, chromium: string): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'amp-invoice-'))
  try {
    const page = join(dir, 'invoice.html')
    const pdf = join(dir, 'invoice.pdf')
    writeFileSync(page, html)
    await run(
      chromium,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        `--user-data-dir=${join(dir, 'profile')}`,
        '--no-pdf-header-footer',
        `--print-to-pdf=${pdf}`,
        `file://${page}`,
      ],
      { timeout: 60_000 },
    )
    return readFileSync(pdf)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
