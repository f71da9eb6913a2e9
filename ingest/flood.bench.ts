/**
 * The flood guard's own cost per click: `node --import tsx ingest/flood.bench.ts`.
 * Addresses are made up front, so only `hit` is timed: 100k IPv4 and 100k IPv6 clients,
 * visited in a shuffled order, several million clicks. CPU time (process.cpuUsage), not
 * wall time: on a shared machine the wall clock mostly measures the other processes. The
 * same loop without the guard is measured and subtracted.
 */
import { FloodGuard } from './flood.js'

const N = 100_000
const v4 = Array.from({ length: N }, (_, i) => `${1 + ((i * 7919) % 223)}.${(i >>> 8) & 255}.${i & 255}.${(i * 31) & 255}`)
const v6 = Array.from({ length: N }, (_, i) => `2a01:${(i * 13).toString(16)}:${(i & 0xffff).toString(16)}:${(i >>> 4).toString(16)}:1:2:3:${i.toString(16)}`)

const cpuNs = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) * 1000
}

function run(ips: string[], clicks: number, guard: boolean): number {
  const g = new FloodGuard(60, 60_000)
  let now = Date.now()
  let marked = 0
  const t0 = cpuNs()
  for (let i = 0; i < clicks; i++) {
    if ((i & 1023) === 0) now += 1 // time moves: windows roll over during the run
    const ip = ips[(i * 48271) % ips.length]!
    if (guard ? g.hit(ip, now) : ip.length === now) marked++
  }
  const ns = (cpuNs() - t0) / clicks
  if (marked < 0) console.log(marked) // keep the result alive
  return ns
}

const median = (f: () => number) => [f(), f(), f()].sort((a, b) => a - b)[1]!

// 16 addresses: their strings stay in cache, as on the click path (the address was just read
// from the socket); 100k: every click also misses the cache on the address string itself.
const hot4 = v4.slice(0, 16)
const hot6 = v6.slice(0, 16)
for (const [name, ips] of [
  ['IPv4, 16 addresses', hot4],
  ['IPv6, 16 addresses', hot6],
  ['IPv4, 100k addresses', v4],
  ['IPv6, 100k addresses', v6],
] as const) {
  run(ips, 1_000_000, true) // warm up
  run(ips, 1_000_000, false)
  const withGuard = median(() => run(ips, 5_000_000, true))
  const loop = median(() => run(ips, 5_000_000, false))
  console.log(`${name}: ${(withGuard - loop).toFixed(1)} ns of CPU per click for the guard (loop with it ${withGuard.toFixed(1)}, without ${loop.toFixed(1)}; median of 3 × 5M clicks)`)
}
