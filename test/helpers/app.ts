/**
 * Start the real launcher as a child process (the way an operator runs it) and talk to it
 * over HTTP and WebSocket.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from '../../common/nats.js'
import { tempDir, TEST_FRAUD_SETTINGS, TEST_SECRETS } from './config.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export type RunningApp = {
  url: string
  port: number
  proc: ChildProcess
  logs: () => string
  /** SIGINT and wait for a clean exit; resolves with the exit code. */
  stop: () => Promise<number | null>
  kill: () => Promise<void>
}

export async function spawnApp(opts: {
  env: Record<string, string>
  args?: string[]
  nodeArgs?: string[]
  port?: number
  readyTimeoutMs?: number
}): Promise<RunningApp> {
  const port = opts.port ?? (await freePort())
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', 'tsx', 'launcher.ts', ...(opts.args ?? [])], {
    cwd: ROOT,
    // a test's registrations come moments after their clicks: the injection rule (CTIT) is off
    // unless a test sets FRAUD_SETTINGS (the fraud tests do)
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      LOG_LEVEL: 'warn',
      FRAUD_SETTINGS: TEST_FRAUD_SETTINGS,
      ...opts.env,
      PORT: String(port),
      HOST: '127.0.0.1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000)
  }
  proc.stdout!.on('data', keep)
  proc.stderr!.on('data', keep)
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)))
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000)
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`app exited (${proc.exitCode}) before ready:\n${out}`)
    try {
      const r = await fetch(`${url}/readyz`)
      if (r.status === 200) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL')
      throw new Error(`app not ready in time:\n${out}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    url,
    port,
    proc,
    logs: () => out,
    stop: async () => {
      proc.kill('SIGINT')
      return exited
    },
    kill: async () => {
      proc.kill('SIGKILL')
      await exited
      // A SIGKILLed app cannot stop its embedded nats-server child: stop it here, or it outlives the test.
      const pidFile = opts.env.DATA_DIR ? join(opts.env.DATA_DIR, 'nats', 'nats-server.pid') : undefined
      const pid = pidFile && existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : NaN
      if (Number.isSafeInteger(pid) && pid > 0) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // already gone
        }
      }
    },
  }
}

export type EmbeddedApp = RunningApp & {
  /** the REST API as the operator */
  call: ReturnType<typeof api>
  /** kill it and remove its data directory */
  dispose: () => Promise<void>
}

/** The embedded app as an operator starts it, on a data directory of its own, with the test secrets. */
export async function spawnEmbedded(prefix: string, env: Record<string, string> = {}): Promise<EmbeddedApp> {
  const dataDir = tempDir(prefix)
  const app = await spawnApp({ env: { DATA_DIR: dataDir, ...TEST_SECRETS, ...env } })
  return {
    ...app,
    call: api(app.url, TEST_SECRETS.OPERATOR_API_KEY),
    dispose: async () => {
      await app.kill().catch(() => {})
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

export function api(url: string, key: string) {
  return async <T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const r = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    })
    const text = await r.text()
    return { status: r.status, body: (text ? JSON.parse(text) : undefined) as T }
  }
}

/** Poll until `check` returns a value, or fail with the last value seen. */
export async function waitFor<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: T | undefined
  for (;;) {
    last = await fn()
    if (ok(last)) return last
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

/** Run `n` async jobs with at most `concurrency` at once. */
export async function pool<T>(n: number, concurrency: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n)
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) {
        const i = next++
        out[i] = await job(i)
      }
    }),
  )
  return out
}

/**
 * Kill a process at random moments while it works through a stream, `kills` times: each time,
 * wait for its progress (`applied` from /api/status), wait a random moment up to `maxDelayMs`,
 * then `killAndRestart` (SIGKILL, and start it again on the same data directory). `stop()` ends
 * it once the sender is done and resolves when the last restart is through.
 */
export function killMidStream(o: { kills: number; maxDelayMs: number; call: () => ReturnType<typeof api>; killAndRestart: () => Promise<void> }) {
  let sending = true
  let killed = 0
  const applied = async () => (await o.call()('GET', '/api/status')).body.processor.applied as number
  const loop = (async () => {
    while (killed < o.kills && sending) {
      const before = await applied().catch(() => 0)
      await waitFor('progress', applied, (a: number) => a > before || !sending, 60_000).catch(() => 0)
      if (!sending) break
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * o.maxDelayMs)))
      await o.killAndRestart()
      killed++
    }
  })()
  return {
    killed: () => killed,
    stop: async () => {
      sending = false
      await loop
    },
  }
}
