/**
 * Tiers meet only through NATS and shared contracts (common/, clickhouse/): no file of a
 * tier folder imports another tier's folder. Test files are excepted (an integration test
 * may drive two tiers at once).
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const TIERS = ['ingest', 'processor', 'query-api', 'notifier', 'dashboard'] as const

/** What the dashboard may import from outside its folder: the API's shapes and the vocabulary. */
// (line-status: the pure rule of what a ledger line counts as now, shared with the API's SQL)
const DASHBOARD_MAY_IMPORT = ['common/api', 'common/live', 'common/vocabulary', 'common/line-status']

/** Every module specifier a source file names: static and dynamic imports, re-exports. */
export function specifiers(source: string): string[] {
  const out: string[] = []
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])([^'"]+)\1/g
  for (const m of source.matchAll(re)) out.push(m[2]!)
  return out
}

function* sourceFiles(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist' || e.name.startsWith('.')) continue
    const p = join(dir, e.name)
    if (e.isDirectory()) yield* sourceFiles(p)
    else if (/\.(ts|js|mjs|svelte)$/.test(e.name) && !/\.test\.ts$/.test(e.name)) yield p
  }
}

const tierOf = (path: string) => TIERS.find((t) => relative(ROOT, path).split('/')[0] === t)

function crossings(): string[] {
  const out: string[] = []
  for (const tier of TIERS) {
    for (const file of sourceFiles(join(ROOT, tier))) {
      for (const spec of specifiers(readFileSync(file, 'utf8'))) {
        if (!spec.startsWith('.')) continue // a package
        const target = resolve(dirname(file), spec)
        const other = tierOf(target)
        if (other && other !== tier) out.push(`${relative(ROOT, file)} → ${relative(ROOT, target).replace(/\.(js|ts)$/, '')}`)
      }
    }
  }
  return out
}

describe('tier boundaries', () => {
  it.each<[string, string[]]>([
    ["import { a } from '../processor/x.js'", ['../processor/x.js']],
    ['import type { T } from "../../query-api/eventlog"', ['../../query-api/eventlog']],
    ["export { b } from './b.js'", ['./b.js']],
    ["const m = await import('../notifier/tier.js')", ['../notifier/tier.js']],
    ["import '../ingest/side-effect.js'", ['../ingest/side-effect.js']],
    ["import {\n  a,\n  b,\n} from '../common/x.js'", ['../common/x.js']],
  ])('finds the specifiers in %j', (src, want) => {
    expect(specifiers(src)).toEqual(want)
  })

  it('no tier folder imports another tier’s folder', () => {
    expect(crossings()).toEqual([])
  })

  it('the dashboard imports only the API’s shapes and the vocabulary, never storage or server modules', () => {
    const outside: string[] = []
    for (const file of sourceFiles(join(ROOT, 'dashboard'))) {
      for (const spec of specifiers(readFileSync(file, 'utf8'))) {
        if (!spec.startsWith('.')) continue
        const target = relative(ROOT, resolve(dirname(file), spec)).replace(/\.(js|ts)$/, '')
        if (!target.startsWith('dashboard/') && !DASHBOARD_MAY_IMPORT.includes(target)) outside.push(`${relative(ROOT, file)} → ${target}`)
      }
    }
    expect(outside).toEqual([])
  })

  it('looks at every tier', () => {
    for (const tier of TIERS) expect([...sourceFiles(join(ROOT, tier))].length, tier).toBeGreaterThan(0)
  })
})
