/** A migrated chDB session in a temporary directory for one test file, closed and removed after it. */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll } from 'vitest'
import { createChdb, type ClickHouseClient } from '../../clickhouse/client.js'
import { migrate } from '../../clickhouse/migrate.js'
import { tempDir } from './config.js'

export function migratedChdb(name: string): { readonly ch: ClickHouseClient } {
  const dir = tempDir(name)
  const db = {} as { ch: ClickHouseClient }
  beforeAll(async () => {
    db.ch = createChdb(join(dir, 'ch'))
    await migrate(db.ch)
  })
  afterAll(async () => {
    await db.ch?.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return db
}
