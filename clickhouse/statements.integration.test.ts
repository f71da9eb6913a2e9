/**
 * What a close takes of each chain, in SQL (clickhouse/statements.ts) against its definition
 * (`collect`, processor/domain/settlement/statement.ts), in chDB: the ledger of every scenario
 * with closes is written to `ledger_lines`, and for each of its closes, and one more close after
 * the last, both give the same statement lines and the same waiting amounts per affiliate.
 * Re-collected with its own rounding lines, every statement's lines are exact to the cent.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { D } from '../common/money.js'
import { nextPeriod, periodEndOf, periodKindOf } from '../common/periods.js'
import { lineRow } from '../processor/affiliate-compute.js'
import type { NumberedLine } from '../processor/domain/commission/affiliate.js'
import { collect, type Collected, type CollectOptions } from '../common/statement.js'
import { ScenarioSchema, simulate } from '../processor/simulator.js'
import { migratedChdb } from '../test/helpers/chdb.js'
import { insertFormatted } from './client.js'
import { collectInSql } from './statements.js'
import { LINES_INSERT } from '../processor/affiliate-compute.js'

const db = migratedChdb('ch-statements')
const DIR = fileURLToPath(new URL('../scenarios/', import.meta.url))
const files = readdirSync(DIR).filter((f) => f.endsWith('.scenario.json') && readFileSync(join(DIR, f), 'utf8').includes('"close"'))

/** Groups in one order, sums as decimals: the two sides print them alike. */
const norm = (c: Collected | undefined) => ({
  groups: [...(c?.groups ?? [])].map((g) => ({ ...g, sum: new D(g.sum).toFixed() })).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
  waiting: Object.fromEntries(
    Object.entries(c?.waiting ?? {})
      .map(([cur, w]) => [cur, { pending: new D(w.pending).toFixed(), held: new D(w.held).toFixed() }] as const)
      .filter(([, w]) => w.pending !== '0' || w.held !== '0')
      .sort(),
  ),
})

describe('the close in SQL takes what collect takes', () => {
  it('has scenarios with closes to run', () => expect(files.length).toBeGreaterThanOrEqual(10))

  it.each(files.map((f, i) => [f, i] as const))('%s', async (f, i) => {
    const s = ScenarioSchema.parse(JSON.parse(readFileSync(join(DIR, f), 'utf8')))
    const r = simulate(s)
    // each scenario's affiliates under ids of their own in the shared table
    const off = (i + 1) * 1000
    const moved = (l: NumberedLine): NumberedLine => ({ ...l, affiliateId: l.affiliateId + off })
    await insertFormatted(db.ch, { ...LINES_INSERT, body: r.lines.map((l) => lineRow(moved(l), 1)).join(''), token: `statements-test:${f}` })
    const chains = new Map<number, NumberedLine[]>()
    for (const l of r.lines) chains.set(l.affiliateId, [...(chains.get(l.affiliateId) ?? []), l])
    const closes = s.events.flatMap((e) => ('close' in e ? [{ period: e.close, asOf: e.at }] : []))

    // the closes as they were, then one more after the last of each kind
    const last = new Map<string, { period: string; asOf: number }>()
    for (const c of closes) last.set(periodKindOf(c.period)!, c)
    const later = [...last.values()].map((c) => ({ period: nextPeriod(c.period), asOf: Math.max(c.asOf, periodEndOf(nextPeriod(c.period))) + 90 * 86_400_000 }))
    const previous = new Map<string, { period: string; asOf: number; no: number }>() // per affiliate and kind
    for (const c of [...closes, ...later]) {
      const kind = periodKindOf(c.period)!
      const made = r.statements.filter((x) => x.period === c.period)
      const affs = made.length > 0 ? made.map((x) => x.affiliateId) : [...chains.keys()]
      const opts = new Map<number, CollectOptions & { bound: number }>()
      const before = new Map(previous)
      for (const aff of affs) {
        const st = made.find((x) => x.affiliateId === aff)
        // the chain as the close saw it: before its own rounding lines
        const bound = st ? st.seal.no - st.rounding.length : chains.get(aff)!.length
        const prev = before.get(`${aff}|${kind}`)
        opts.set(aff, { period: c.period, asOf: c.asOf, bound, ...(prev ? { previous: prev } : {}) })
        if (st) {
          previous.set(`${aff}|${kind}`, { period: c.period, asOf: c.asOf, no: st.seal.no })
          // with its rounding lines, each statement line is exact to the minor unit
          const again = collect(chains.get(aff)!.slice(0, st.seal.no), { period: c.period, asOf: c.asOf, ...(prev ? { previous: prev } : {}) })
          expect(again.groups.map((g) => new D(g.sum).toFixed()).sort()).toEqual(st.lines.map((l) => new D(l.amount).toFixed()).sort())
        }
      }
      const sql = await collectInSql(
        db.ch,
        c,
        [...opts].map(([aff, o]) => ({ affiliateId: aff + off, no: o.bound, ...(o.previous ? { previous: o.previous } : {}) })),
      )
      for (const [aff, o] of opts) expect(norm(sql.get(aff + off)), `${f}: ${c.period}, affiliate ${aff}`).toEqual(norm(collect(chains.get(aff)!.slice(0, o.bound), o)))
      // a statement read again from the ledger, its rounding lines in: each joins the line it rounded
      const sealed = made.map((st) => ({ affiliateId: st.affiliateId + off, no: st.seal.no, ...(opts.get(st.affiliateId)!.previous ? { previous: opts.get(st.affiliateId)!.previous! } : {}) }))
      const reread = await collectInSql(db.ch, c, sealed)
      for (const st of made) {
        const o = opts.get(st.affiliateId)!
        expect(norm(reread.get(st.affiliateId + off))).toEqual(norm(collect(chains.get(st.affiliateId)!.slice(0, st.seal.no), o)))
      }
    }
  })
})
