/**
 * Players' money summed per currency, read back from the facts table or its rollup. Apart
 * from clickhouse/facts.ts so the processor's workers, which need only the definitions,
 * never load the ClickHouse client.
 */
import { D } from '../common/money.js'
import { queryRows, type ClickHouseClient } from './client.js'
import { FACT_FIELDS, FACT_SUMS_SQL, ggr, ngr, type FactField } from './facts.js'

export type MoneyTotals = Record<string, Record<FactField | 'ggr' | 'ngr', string>>

/** Every fact summed per currency, with its GGR and NGR: from the raw facts or their rollup
 *  (the two must agree to the last decimal). */
export async function moneyTotals(ch: ClickHouseClient, table: 'player_facts' | 'player_day'): Promise<MoneyTotals> {
  const rows = await queryRows<Record<string, string>>(
    ch,
    `SELECT currency, ${FACT_FIELDS.map((f) => `toString(${f}) AS ${f}_`).join(', ')} FROM (SELECT currency, ${FACT_SUMS_SQL} FROM ${table} GROUP BY currency) ORDER BY currency`,
  )
  const out: MoneyTotals = {}
  for (const r of rows) {
    const f = Object.fromEntries(FACT_FIELDS.map((k) => [k, new D(r[`${k}_`]!).toFixed()])) as Record<FactField, string>
    out[r.currency!] = { ...f, ggr: ggr(f), ngr: ngr(f) }
  }
  return out
}
