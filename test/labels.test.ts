/**
 * The dashboard's label table covers every code a person can meet: every reason the
 * processor writes on an event row (read from its source, so a new code without a label
 * fails here), every event status and every event kind.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { CONVERSION_KINDS, EVENT_STATUSES } from '../common/vocabulary.js'
import { KIND_LABELS, REASON_LABELS, STATUS_LABELS, reasonLabel } from '../dashboard/src/lib/labels.js'

const ROOT = fileURLToPath(new URL('../', import.meta.url))

/** The reason codes in the processor's source: `reason: 'x'` (and every literal on a line
 *  declaring a reason), the members of *Reason / *Note types and of UNATTRIBUTED_REASONS,
 *  and the geo_<outcome> codes of clicks. */
function processorReasons(): Set<string> {
  const dir = join(ROOT, 'processor/domain')
  const files = [...readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).map((f) => join(dir, f)), join(ROOT, 'processor/pipeline.ts')]
  const out = new Set<string>()
  const lits = (s: string) => [...s.matchAll(/'([a-z][a-z0-9_]*)'/g)].map((m) => m[1]!)
  for (const f of files) {
    const src = readFileSync(f, 'utf8')
    // not a comparison (`c.reason === 'malformed'` reads another module's code), not a counter or a dead letter
    for (const line of src.split('\n')) if (/\breason\??\s*[:=]|\breason\s*\?\?/.test(line) && !/===|typeof|\.count\(|reject\(/.test(line)) lits(line).forEach((l) => out.add(l))
    for (const m of src.matchAll(/export type \w*(?:Reason|Note)\w* = ([^\n]+)/g)) lits(m[1]!).forEach((l) => out.add(l))
    for (const m of src.matchAll(/_REASONS = \[([^\]]*)\]/g)) lits(m[1]!).forEach((l) => out.add(l))
    if (src.includes('`geo_${')) {
      const geo = /geo: z\.enum\(\[([^\]]*)\]\)/.exec(readFileSync(join(ROOT, 'common/events.ts'), 'utf8'))
      lits(geo![1]!).forEach((g) => out.add(`geo_${g}`))
    }
  }
  // A status next to a reason is a status; a ledger line's reason names the event kind that caused it.
  for (const x of [...EVENT_STATUSES, ...CONVERSION_KINDS]) out.delete(x)
  return out
}

describe('labels', () => {
  it('has a label for every reason code the processor emits', () => {
    const codes = processorReasons()
    // the scan finds the codes it should (a sanity check of the scan itself)
    expect([...codes]).toEqual(expect.arrayContaining(['first_deposit', 'bound_player', 'registered', 'click_expired', 'geo_blocked', 'awaiting_registration']))
    const missing = [...codes].filter((c) => !(c in REASON_LABELS))
    expect(missing).toEqual([])
  })

  it('has a label for every status and every kind, and none is the code itself', () => {
    for (const s of EVENT_STATUSES) expect(STATUS_LABELS[s], s).toBeTruthy()
    for (const k of ['click', 'reassign', ...CONVERSION_KINDS]) expect((KIND_LABELS as Record<string, string>)[k], k).toBeTruthy()
    for (const [code, label] of Object.entries({ ...REASON_LABELS, ...STATUS_LABELS, ...KIND_LABELS })) expect(label).not.toBe(code)
  })

  it('shows an unknown code as it is, and nothing for no reason', () => {
    expect(reasonLabel('some_new_code')).toBe('some_new_code')
    expect(reasonLabel('')).toBe('')
  })
})
