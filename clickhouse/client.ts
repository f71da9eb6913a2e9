/**
 * The one way the code talks to ClickHouse: @clickhouse/client, either over HTTP to a
 * server or cluster (CLICKHOUSE_URL) or through chDB in-process (embedded mode). Same
 * client, same SQL. chDB binds one data directory per process.
 */
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { createClient, drainStream, type ClickHouseClient } from '@clickhouse/client'
import { createChdbConnection } from 'chdb/connection'
import type { Config } from '../common/config.js'

export type { ClickHouseClient }

/** Money and 64-bit counts must arrive as strings, never as lossy JS numbers. */
const SETTINGS = {
  output_format_json_quote_64bit_integers: 1,
  output_format_json_quote_decimals: 1,
  date_time_output_format: 'iso',
} as const

export function createClickHouse(cfg: Pick<Config, 'clickhouse' | 'dataDir'>): ClickHouseClient {
  if (cfg.clickhouse.url) {
    return createClient({
      url: cfg.clickhouse.url,
      username: cfg.clickhouse.user,
      password: cfg.clickhouse.password,
      database: cfg.clickhouse.database,
      clickhouse_settings: SETTINGS,
    })
  }
  return createChdb(join(cfg.dataDir, 'clickhouse'))
}

export function createChdb(path: string): ClickHouseClient {
  // chdb/connection implements @clickhouse/client-common's Connection; the cast bridges the
  // two packages' copies of that interface's types.
  const connection = createChdbConnection({ path }) as never
  return createClient({ connection, clickhouse_settings: SETTINGS })
}

/** Settings for an idempotent insert: the token is dropped when seen again, in the table
 *  and in every materialized view's target. */
export function dedupSettings(token: string) {
  return { insert_deduplication_token: token, deduplicate_blocks_in_dependent_materialized_views: 1 } as const
}

export async function queryRows<T>(ch: ClickHouseClient, query: string, params: Record<string, unknown> = {}): Promise<T[]> {
  const rs = await ch.query({ query, query_params: params, format: 'JSONEachRow' })
  return (await rs.json()) as T[]
}

/** Insert rows already serialised in `format` (serialised on worker threads, so the main
 *  thread only moves bytes), idempotently under `token`. */
export async function insertFormatted(
  ch: ClickHouseClient,
  q: { table: string; columns?: readonly string[]; format: 'JSONEachRow' | 'TabSeparated'; body: string; token: string },
): Promise<void> {
  if (q.body.length === 0) return
  const ident = /^[a-z_][a-z0-9_]*$/
  if (!ident.test(q.table) || !(q.columns ?? []).every((c) => ident.test(c))) throw new Error(`bad identifier in insert into ${q.table}`)
  const cols = q.columns ? ` (${q.columns.join(', ')})` : ''
  const r = await ch.exec({
    query: `INSERT INTO ${q.table}${cols} FORMAT ${q.format}`,
    values: Readable.from([Buffer.from(q.body)], { objectMode: false }),
    clickhouse_settings: dedupSettings(q.token),
  })
  await drainStream(r.stream)
}
