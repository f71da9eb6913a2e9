/**
 * Schema migrations: ordered SQL files in ./migrations, each applied once and recorded in
 * schema_migrations. Statements use IF NOT EXISTS, so two processes migrating at the same
 * time (distributed mode) do no harm.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ClickHouseClient } from './client.js'
import { queryRows } from './client.js'

const DIR = join(fileURLToPath(new URL('.', import.meta.url)), 'migrations')

export type Migration = { version: number; name: string; statements: string[] }

export function loadMigrations(dir = DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d+_.+\.sql$/.test(f))
    .sort()
    .map((f) => ({
      version: Number(f.split('_')[0]),
      name: f,
      statements: splitStatements(readFileSync(join(dir, f), 'utf8')),
    }))
}

/** Split on semicolons that end a line; strips `--` comment lines. */
export function splitStatements(sql: string): string[] {
  return sql
    .split('\n')
    .filter((l) => !l.trim().startsWith('--'))
    .join('\n')
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter(Boolean)
}

export async function migrate(ch: ClickHouseClient, dir = DIR): Promise<number[]> {
  await ch.command({
    query: `CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, applied_at DateTime('UTC') DEFAULT now())
            ENGINE = ReplacingMergeTree ORDER BY version`,
  })
  const done = new Set((await queryRows<{ version: number }>(ch, 'SELECT version FROM schema_migrations FINAL')).map((r) => Number(r.version)))
  const applied: number[] = []
  for (const m of loadMigrations(dir)) {
    if (done.has(m.version)) continue
    for (const s of m.statements) await ch.command({ query: s })
    await ch.insert({ table: 'schema_migrations', values: [{ version: m.version, name: m.name }], format: 'JSONEachRow' })
    applied.push(m.version)
  }
  return applied
}
