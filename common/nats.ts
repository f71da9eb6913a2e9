/**
 * NATS wiring shared by every tier: the embedded nats-server child, the connection,
 * and the streams and KV buckets the platform needs (created idempotently at boot).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { connect, DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager, type KV, type NatsConnection } from 'nats'
import type { Config } from './config.js'
import type { Logger } from './log.js'
import { ACCRUALS_STREAM, AUDIT_STREAM, BUCKETS, DELIVERY_STREAM, DLQ_STREAM, EVENTS_STREAM } from './subjects.js'

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

export type EmbeddedNats = { url: string; child: ChildProcess; stop: () => Promise<void> }

/** Whether a process with this pid is running (a lock or pid file left by a killed process is stale). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * Start nats-server with JetStream, its store under `storeDir`. A server left behind by a
 * parent that was killed (SIGKILL leaves children running) is stopped first, so a restart
 * on the same data directory never finds its store locked.
 */
export async function startNatsServer(opts: { storeDir: string; bin?: string; log?: Logger; port?: number }): Promise<EmbeddedNats> {
  mkdirSync(opts.storeDir, { recursive: true })
  const pidFile = join(opts.storeDir, 'nats-server.pid')
  if (existsSync(pidFile)) {
    const old = Number(readFileSync(pidFile, 'utf8'))
    if (old > 0 && alive(old)) {
      opts.log?.warn({ pid: old }, 'stopping a nats-server left over from an earlier run')
      process.kill(old, 'SIGTERM')
      for (let i = 0; i < 100 && alive(old); i++) await sleep(50)
      if (alive(old)) process.kill(old, 'SIGKILL')
    }
    rmSync(pidFile, { force: true })
  }
  const port = opts.port ?? (await freePort())
  const args = ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', opts.storeDir, '--pid', pidFile]
  const child = spawn(opts.bin ?? 'nats-server', args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000)
  })
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  const spawnError = new Promise<never>((_, rej) =>
    child.once('error', (err) => rej(new Error(`cannot start nats-server (${err.message}); install Debian's package 'nats-server' or set NATS_URL`))),
  )
  const url = `nats://127.0.0.1:${port}`
  const ready = (async () => {
    for (let i = 0; i < 200; i++) {
      if (child.exitCode !== null) throw new Error(`nats-server exited (${child.exitCode}): ${stderr}`)
      try {
        const nc = await connect({ servers: url, reconnect: false, timeout: 500 })
        const jsm = await nc.jetstreamManager()
        await jsm.getAccountInfo()
        await nc.close()
        return
      } catch {
        await sleep(50)
      }
    }
    throw new Error(`nats-server did not become ready: ${stderr}`)
  })()
  await Promise.race([ready, spawnError])
  return {
    url,
    child,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM')
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000)
        await exited
        clearTimeout(t)
      }
    },
  }
}

export async function connectNats(url: string, name: string, log?: Logger): Promise<NatsConnection> {
  // noAsyncTraces: nats.js otherwise makes an Error (a stack trace) for every request and KV call, ~8% of the processor's time under load
  const nc = await connect({ servers: url, name, maxReconnectAttempts: -1, reconnectTimeWait: 250, pingInterval: 10_000, noAsyncTraces: true })
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error') log?.warn({ nats: s.type, data: String(s.data) }, 'nats status')
    }
  })()
  return nc
}

const NS_PER_S = 1_000_000_000

/** Create or update the streams and buckets. Safe to run from every tier at every boot. */
export async function ensureTopology(nc: NatsConnection, cfg: Config): Promise<void> {
  const jsm = await nc.jetstreamManager()
  // the event stream, kept as long as the retention says: what every projection is replayed from
  const replayable = {
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    duplicate_window: cfg.stream.dedupWindowS * NS_PER_S,
    max_age: cfg.stream.maxAgeDays * 86_400 * NS_PER_S,
    max_msg_size: 4 * 1024 * 1024,
  }
  await ensureStream(jsm, { name: EVENTS_STREAM, subjects: ['ev.*.*'], ...replayable })
  await ensureStream(jsm, {
    name: DLQ_STREAM,
    subjects: ['dlq.>'],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    duplicate_window: cfg.stream.dedupWindowS * NS_PER_S,
    max_age: 0,
  })
  await ensureStream(jsm, {
    name: DELIVERY_STREAM,
    subjects: ['delivery.>'],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    duplicate_window: cfg.stream.dedupWindowS * NS_PER_S,
    max_age: 0,
  })
  await ensureStream(jsm, {
    name: AUDIT_STREAM,
    subjects: ['audit.>'],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    // append-only: kept for ever, never dropped to make room, no message deleted or purged
    discard: DiscardPolicy.New,
    max_age: 0,
    deny_delete: true,
    deny_purge: true,
  })
  // Derived from EVENTS (a replay of it republishes the same ids), kept like it for replays of the affiliate stage.
  await ensureStream(jsm, { name: ACCRUALS_STREAM, subjects: ['acc.*'], ...replayable })
  const js = nc.jetstream()
  for (const name of [
    BUCKETS.brands,
    BUCKETS.affiliates,
    BUCKETS.links,
    BUCKETS.deals,
    BUCKETS.sources,
    BUCKETS.endpoints,
    BUCKETS.offers,
    BUCKETS.fx,
    BUCKETS.fraud,
  ]) {
    await js.views.kv(name, { history: 64, storage: StorageType.File })
  }
  const counters = await js.views.kv(BUCKETS.counters, { history: 1, storage: StorageType.File })
  await pinPartitionCount(counters, cfg.stream.partitions)
  await js.views.kv(BUCKETS.players, { history: 1, storage: StorageType.File })
  await js.views.kv(BUCKETS.books, { history: 1, storage: StorageType.File })
  await js.views.kv(BUCKETS.progress, { history: 1, storage: StorageType.File })
  await js.views.kv(BUCKETS.payouts, { history: 1, storage: StorageType.File })
  await js.views.kv(BUCKETS.appeals, { history: 8, storage: StorageType.File })
  await js.views.kv(BUCKETS.fraudKeys, { history: 1, storage: StorageType.File, ttl: 35 * 86_400 * 1000 })
  await js.views.kv(BUCKETS.postbacks, {
    history: 1,
    storage: StorageType.File,
    ttl: cfg.stream.postbackIdempotencyDays * 86_400 * 1000,
  })
}

/** The partition count is fixed when the stream is first created: keys map to partitions by it. */
async function pinPartitionCount(kv: KV, partitions: number) {
  const enc = new TextEncoder()
  try {
    await kv.create('stream.partitions', enc.encode(String(partitions)))
  } catch {
    const e = await kv.get('stream.partitions')
    const pinned = Number(e?.string())
    if (pinned !== partitions) {
      throw new Error(`PARTITIONS=${partitions} but the event stream was created with ${pinned}; keys would map to other partitions. Set PARTITIONS=${pinned}.`)
    }
  }
}

/** Limits a running stream may have changed at boot; the rest of a stream's config is fixed. */
const TUNABLE = ['max_msg_size', 'duplicate_window', 'max_age'] as const

async function ensureStream(jsm: JetStreamManager, sc: Parameters<JetStreamManager['streams']['add']>[0] & { name: string }) {
  let current
  try {
    current = (await jsm.streams.info(sc.name)).config
  } catch (err) {
    if (!String((err as Error).message).includes('not found')) throw err
    await jsm.streams.add(sc)
    return
  }
  // Only what this config sets is compared: an unset limit keeps the server's value (it
  // reads back as -1), instead of triggering an update at every boot.
  const changed = TUNABLE.filter((k) => sc[k] !== undefined && current[k] !== sc[k])
  if (changed.length > 0) {
    await jsm.streams.update(sc.name, { ...current, ...Object.fromEntries(changed.map((k) => [k, sc[k]])) })
  }
}

export async function openKv(nc: NatsConnection, bucket: string): Promise<KV> {
  return nc.jetstream().views.kv(bucket, { bindOnly: true })
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}
