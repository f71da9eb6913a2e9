/**
 * Load generation for the benchmarks: wrk when installed (Debian package `wrk`, light on
 * CPU), else autocannon; flat out, or paced to a rate (bench/paced.lua: every connection
 * pauses a random, exponentially distributed time between requests, so requests arrive
 * spread out instead of as fast as the server answers).
 */
import { readFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'

export const CONNECTIONS = 100
const PACED_LUA = fileURLToPath(new URL('./paced.lua', import.meta.url))

export const hasWrk = (() => {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' })
    return true
  } catch (e) {
    return (e as { status?: number }).status === 1 // wrk --version exits 1 after printing
  }
})()

export type Load = { rps: number; p50: number; p99: number }

function ms(s: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(s)!
  return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1)
}

/** `connections`: fewer for a low paced rate, so each connection's pause stays short enough
 *  for wrk's timer to keep the rate. */
export async function load(url: string, duration: number, rate?: number, connections = CONNECTIONS): Promise<Load> {
  if (hasWrk && !rate) return wrk(url, duration, connections)
  if (hasWrk && rate) {
    // Paced: each connection pauses between its response and its next request, the mean
    // pause set for the wanted rate; a short first run corrects it for the latency.
    const paced = (pauseUs: number, d: number) => wrk(url, d, connections, ['-s', PACED_LUA], { WRK_PAUSE_US: String(Math.max(0, Math.round(pauseUs))) })
    const cycleUs = (connections / rate) * 1e6
    const first = paced(cycleUs, 3)
    return paced(cycleUs - ((connections / first.rps) * 1e6 - cycleUs), duration)
  }
  const r = await autocannon({ url, connections, duration, ...(rate ? { overallRate: rate } : {}) })
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99 }
}

function wrk(url: string, duration: number, connections: number, extra: string[] = [], env: Record<string, string> = {}): Load {
  const out = execFileSync('wrk', ['-t1', `-c${connections}`, `-d${duration}s`, '--latency', ...extra, url], { env: { ...process.env, ...env } }).toString()
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]), p50: ms(/ 50%\s+(\S+)/.exec(out)![1]!), p99: ms(/ 99%\s+(\S+)/.exec(out)![1]!) }
}

export function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN
}

export const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); NaN elsewhere. */
export function cpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / 100 // clock ticks (USER_HZ, 100 on Linux)
  } catch {
    return NaN
  }
}
