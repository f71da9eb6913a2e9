/**
 * The flood guard's own cost per click: `node --import tsx ingest/flood.bench.ts`.
 * Addresses are made up front, so only `hit` is timed: 100k IPv4 and 100k IPv6 clients,
 * visited in a shuffled order, several million clicks.
 */
import { FloodGuard } from './flood.js'

const N = 100_000
const v4 = Array.from({ length: N }, (_, i) => `${1 + ((i * 7919) % 223)}.${(i >>> 8) & 255}.${i & 255}.${(i * 31) & 255}`)
const v6 = Array.from({ length: N }, (_, i) => `2a01:${(i * 13).toString(16)}:${(i & 0xffff).toString(16)}:${(i >>> 4).toString(16)}:1:2:3:${i.toString(16)}`)

function run(ips: string[], clicks: number): number {
  const g = new FloodGuard(60, 60_000)
  let now = Date.now()
  let marked = 0
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < clicks; i++) {
    if ((i & 1023) === 0) now += 1 // time moves: windows roll over during the run
    if (g.hit(ips[(i * 48271) % ips.length]!, now)) marked++
  }
  const ns = Number(process.hrtime.bigint() - t0) / clicks
  if (marked < 0) console.log(marked) // keep the result alive
  return ns
}

for (const [name, ips] of [
  ['IPv4', v4],
  ['IPv6', v6],
] as const) {
  run(ips, 1_000_000) // warm up
  const rounds = [run(ips, 5_000_000), run(ips, 5_000_000), run(ips, 5_000_000)].sort((a, b) => a - b)
  console.log(`${name}: ${rounds[1]!.toFixed(1)} ns/click (median of 3 × 5M clicks; ${rounds.map((r) => r.toFixed(1)).join(' / ')})`)
}
