/**
 * The click spool: an append-only log on local disk for click batches JetStream cannot
 * store right now (NATS away, or the stream refusing writes). A redirect in CLICK_ACK=stored
 * mode is answered once its click is either stored by JetStream or fsync'd here, so a
 * process that dies during an outage loses no click it answered.
 *
 * Layout: one file per segment in the spool directory, named by a sequence number (oldest
 * first). A record is `[u32 length][u32 crc32][body]` (little-endian), the body
 * `[u16 n][subject][u16 n][Nats-Msg-Id][NDJSON clicks]`. The reader stops at the first record
 * that is short or fails its checksum: a crash mid-write leaves at most a torn last record,
 * which is skipped (its batch had not been answered: the fsync had not returned). A segment
 * is removed only after JetStream acknowledged every record in it; each record is published
 * again under the Nats-Msg-Id it was first tried with, so a batch that in fact reached the
 * stream is dropped there as a duplicate.
 */
import { alive } from '../common/nats.js'
import { existsSync } from 'node:fs'
import { mkdir, open, readdir, readFile, rm, writeFile, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import type { Logger } from '../common/log.js'

export type SpoolRecord = { subject: string; msgId: string; data: Uint8Array }

const HEADER = 8
const SEGMENT_RE = /^(\d{16})\.seg$/

export function encodeRecord(r: SpoolRecord): Buffer {
  const subject = Buffer.from(r.subject)
  const msgId = Buffer.from(r.msgId)
  if (subject.length > 0xffff || msgId.length > 0xffff) throw new RangeError('subject or message id too long for the spool')
  const bodyLength = 2 + subject.length + 2 + msgId.length + r.data.length
  const buf = Buffer.allocUnsafe(HEADER + bodyLength)
  let o = HEADER
  buf.writeUInt16LE(subject.length, o)
  o += 2 + subject.copy(buf, o + 2)
  buf.writeUInt16LE(msgId.length, o)
  o += 2 + msgId.copy(buf, o + 2)
  buf.set(r.data, o)
  buf.writeUInt32LE(bodyLength, 0)
  buf.writeUInt32LE(crc32(buf.subarray(HEADER)), 4)
  return buf
}

/** The records of a segment, and how many bytes at its end could not be read (a torn tail). */
export function decodeSegment(buf: Buffer): { records: SpoolRecord[]; tornBytes: number } {
  const records: SpoolRecord[] = []
  let o = 0
  while (o < buf.length) {
    if (buf.length - o < HEADER) break
    const length = buf.readUInt32LE(o)
    if (length < 4 || length > buf.length - o - HEADER) break
    const body = buf.subarray(o + HEADER, o + HEADER + length)
    if (crc32(body) !== buf.readUInt32LE(o + 4)) break
    const sl = body.readUInt16LE(0)
    if (2 + sl + 2 > length) break
    const ml = body.readUInt16LE(2 + sl)
    if (2 + sl + 2 + ml > length) break
    records.push({
      subject: body.toString('utf8', 2, 2 + sl),
      msgId: body.toString('utf8', 4 + sl, 4 + sl + ml),
      data: new Uint8Array(body.subarray(4 + sl + ml)), // a copy: the file buffer can go
    })
    o += HEADER + length
  }
  return { records, tornBytes: buf.length - o }
}

type Pending = { buf: Buffer; records: number; resolve: () => void; reject: (err: Error) => void }
type Open = { name: string; fh: FileHandle; size: number; records: number }

export type SpoolSegment = { name: string; records: SpoolRecord[]; tornBytes: number }

export class Spool {
  /** segments no longer written to, oldest first (some from an earlier run) */
  readonly #closed: string[]
  #open: Open | undefined
  #next: number
  #queue: Pending[] = []
  #writing = false
  #writeDone: Promise<void> = Promise.resolve()

  private constructor(
    readonly dir: string,
    closed: string[],
    next: number,
    private readonly segmentBytes: number,
    private readonly log?: Logger,
  ) {
    this.#closed = closed
    this.#next = next
  }

  /** Open the spool in `dir`, finding what an earlier run left. One process per directory. */
  static async open(dir: string, opts: { segmentBytes?: number; log?: Logger } = {}): Promise<Spool> {
    await mkdir(dir, { recursive: true })
    await lock(dir)
    const names = (await readdir(dir)).filter((n) => SEGMENT_RE.test(n)).sort()
    const next = names.length ? Number(SEGMENT_RE.exec(names.at(-1)!)![1]) + 1 : 1
    const spool = new Spool(dir, names, next, opts.segmentBytes ?? 16 * 1024 * 1024, opts.log)
    if (names.length) opts.log?.warn({ dir, segments: names.length }, 'click spool holds clicks from an earlier run; publishing them first')
    return spool
  }

  /** Nothing left to publish: no segment, no record being written. */
  get empty(): boolean {
    return this.#closed.length === 0 && (this.#open?.records ?? 0) === 0 && this.#queue.length === 0 && !this.#writing
  }

  /** Append records; resolves once they are on disk (fdatasync). Appends that arrive while
   *  one is being written share the next write and sync. */
  append(records: SpoolRecord[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const buf = records.length === 1 ? encodeRecord(records[0]!) : Buffer.concat(records.map(encodeRecord))
      this.#queue.push({ buf, records: records.length, resolve, reject })
      if (!this.#writing) this.#writeDone = this.#writeLoop()
    })
  }

  async #writeLoop(): Promise<void> {
    this.#writing = true
    try {
      while (this.#queue.length) {
        const batch = this.#queue.splice(0)
        try {
          if (!this.#open || this.#open.size >= this.segmentBytes) await this.#startSegment()
          const seg = this.#open!
          const buf = batch.length === 1 ? batch[0]!.buf : Buffer.concat(batch.map((p) => p.buf))
          try {
            await seg.fh.write(buf, 0, buf.length, seg.size)
            await seg.fh.datasync()
          } catch (err) {
            // A partial write would hide every later record behind a torn one: cut it off
            // and continue in a fresh segment.
            await seg.fh.truncate(seg.size).catch(() => {})
            await this.#closeOpen()
            throw err
          }
          seg.size += buf.length
          for (const p of batch) seg.records += p.records
          for (const p of batch) p.resolve()
        } catch (err) {
          for (const p of batch) p.reject(err as Error)
        }
      }
    } finally {
      this.#writing = false
    }
  }

  async #startSegment() {
    await this.#closeOpen()
    const name = `${String(this.#next++).padStart(16, '0')}.seg`
    const fh = await open(join(this.dir, name), 'wx')
    // The new file's directory entry must survive a crash too.
    const d = await open(this.dir, 'r')
    try {
      await d.sync()
    } finally {
      await d.close()
    }
    this.#open = { name, fh, size: 0, records: 0 }
  }

  async #closeOpen() {
    const seg = this.#open
    if (!seg) return
    this.#open = undefined
    // Listed before the await: in between, the spool must not look empty.
    if (seg.records > 0) this.#closed.push(seg.name)
    await seg.fh.close()
    if (seg.records === 0) await rm(join(this.dir, seg.name), { force: true })
  }

  /** The oldest segment to publish, read back; the one being written is closed first when
   *  it is all that is left. Undefined when there is nothing (or only a write in progress). */
  async oldest(): Promise<SpoolSegment | undefined> {
    if (this.#closed.length === 0) {
      if (this.#writing || !this.#open || this.#open.records === 0) return undefined
      await this.#closeOpen()
    }
    const name = this.#closed[0]!
    const { records, tornBytes } = decodeSegment(await readFile(join(this.dir, name)))
    if (tornBytes > 0)
      this.log?.warn({ segment: name, tornBytes, records: records.length }, 'click spool segment ends in a torn record (a crash mid-write); skipped')
    return { name, records, tornBytes }
  }

  /** Remove a segment whose every record JetStream acknowledged. */
  async remove(name: string): Promise<void> {
    const i = this.#closed.indexOf(name)
    if (i < 0) throw new Error(`no closed spool segment ${name}`)
    await rm(join(this.dir, name), { force: true })
    this.#closed.splice(i, 1)
  }

  /** Finish pending writes and close the file; what is spooled stays for the next run. */
  async close(): Promise<void> {
    await this.#writeDone
    await this.#closeOpen()
    await rm(join(this.dir, 'lock'), { force: true })
  }
}

/** Two processes draining one spool would publish and delete each other's segments. */
async function lock(dir: string) {
  const file = join(dir, 'lock')
  if (existsSync(file)) {
    const pid = Number((await readFile(file, 'utf8')).trim())
    if (pid > 0 && pid !== process.pid && alive(pid))
      throw new Error(`the click spool ${dir} is in use by process ${pid}; give each ingest process its own DATA_DIR`)
  }
  await writeFile(file, String(process.pid))
}
