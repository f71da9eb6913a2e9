import { appendFileSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { tempDir } from '../test/helpers/config.js'
import { decodeSegment, encodeRecord, Spool, type SpoolRecord } from './spool.js'

const enc = new TextEncoder()
const rec = (i: number, data = `{"kind":"click","id":"c${i}"}\n`): SpoolRecord => ({ subject: `ev.${i % 16}.click`, msgId: `cb:inst:${i}`, data: enc.encode(data) })
const text = (r: SpoolRecord) => ({ subject: r.subject, msgId: r.msgId, data: new TextDecoder().decode(r.data) })
const segments = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.seg')).sort()

describe('spool record format', () => {
  it('reads back what it wrote, byte for byte (unicode, empty data, a large batch)', () => {
    const rs = [rec(1), rec(2, 'ünïcödé ✓ 🎉\n'), rec(3, ''), rec(4, 'x'.repeat(900_000))]
    const { records, tornBytes } = decodeSegment(Buffer.concat(rs.map(encodeRecord)))
    expect(tornBytes).toBe(0)
    expect(records.map(text)).toEqual(rs.map(text))
  })

  it.each([1, 3, 7, 8, 9, 20])('skips a torn last record cut %i bytes into it, keeping every record before', (cut) => {
    const whole = Buffer.concat([rec(1), rec(2)].map(encodeRecord))
    const torn = Buffer.concat([whole, encodeRecord(rec(3)).subarray(0, cut)])
    const { records, tornBytes } = decodeSegment(torn)
    expect(records.map((r) => r.msgId)).toEqual(['cb:inst:1', 'cb:inst:2'])
    expect(tornBytes).toBe(cut)
  })

  it('stops at a record whose checksum fails (a flipped byte), not reading garbage as clicks', () => {
    const bufs = [rec(1), rec(2), rec(3)].map(encodeRecord)
    bufs[1]![20] = bufs[1]![20]! ^ 0xff
    const { records, tornBytes } = decodeSegment(Buffer.concat(bufs))
    expect(records.map((r) => r.msgId)).toEqual(['cb:inst:1'])
    expect(tornBytes).toBe(bufs[1]!.length + bufs[2]!.length)
  })

  it('refuses a length that points past the end, and zeros (a file extended but never written)', () => {
    expect(decodeSegment(Buffer.concat([encodeRecord(rec(1)), Buffer.alloc(64)])).records).toHaveLength(1)
    const big = encodeRecord(rec(2))
    big.writeUInt32LE(1 << 30, 0)
    expect(decodeSegment(big)).toEqual({ records: [], tornBytes: big.length })
  })
})

describe('Spool', () => {
  it('appends, fsyncs, reads the oldest segment back and removes it once acknowledged', async () => {
    const dir = tempDir('spool')
    const s = await Spool.open(dir)
    expect(s.empty).toBe(true)
    await Promise.all([s.append([rec(1)]), s.append([rec(2), rec(3)]), s.append([rec(4)])])
    expect(s.empty).toBe(false)
    const seg = (await s.oldest())!
    expect(seg.records.map((r) => r.msgId)).toEqual(['cb:inst:1', 'cb:inst:2', 'cb:inst:3', 'cb:inst:4'])
    await s.append([rec(5)]) // goes to a new segment: the one read is no longer written
    expect(segments(dir)).toHaveLength(2)
    await s.remove(seg.name)
    expect(segments(dir)).toHaveLength(1)
    const next = (await s.oldest())!
    expect(next.records.map((r) => r.msgId)).toEqual(['cb:inst:5'])
    await s.remove(next.name)
    expect(s.empty).toBe(true)
    expect(await s.oldest()).toBeUndefined()
    expect(segments(dir)).toEqual([])
    await s.close()
  })

  it('rolls to a new segment past the size limit, and a reopened spool finds them in order', async () => {
    const dir = tempDir('spool')
    const s = await Spool.open(dir, { segmentBytes: 200 })
    for (let i = 1; i <= 10; i++) await s.append([rec(i)])
    await s.close()
    expect(segments(dir).length).toBeGreaterThan(2)
    const again = await Spool.open(dir, { segmentBytes: 200 })
    expect(again.empty).toBe(false)
    await again.append([rec(11)]) // after a restart, new clicks queue behind the old ones
    const seen: string[] = []
    for (let seg = await again.oldest(); seg; seg = await again.oldest()) {
      seen.push(...seg.records.map((r) => r.msgId))
      await again.remove(seg.name)
    }
    expect(seen).toEqual(Array.from({ length: 11 }, (_, i) => `cb:inst:${i + 1}`))
    await again.close()
  })

  it('after a crash mid-write: the torn last record is skipped, the ones before it are published, new appends go to a new segment', async () => {
    const dir = tempDir('spool')
    const s = await Spool.open(dir)
    await s.append([rec(1), rec(2)])
    await s.close()
    const [name] = segments(dir)
    const file = join(dir, name!)
    appendFileSync(file, encodeRecord(rec(3)).subarray(0, 11)) // the process died inside this write
    writeFileSync(join(dir, 'lock'), '999999999') // and left its lock behind
    const again = await Spool.open(dir)
    await again.append([rec(4)])
    const first = (await again.oldest())!
    expect(first.records.map((r) => r.msgId)).toEqual(['cb:inst:1', 'cb:inst:2'])
    expect(first.tornBytes).toBe(11)
    await again.remove(first.name)
    expect((await again.oldest())!.records.map((r) => r.msgId)).toEqual(['cb:inst:4'])
    await again.close()
  })

  it('a segment truncated to nothing holds no records and is removed like any other', async () => {
    const dir = tempDir('spool')
    const s = await Spool.open(dir)
    await s.append([rec(1)])
    await s.close()
    truncateSync(join(dir, segments(dir)[0]!), 0)
    const again = await Spool.open(dir)
    const seg = (await again.oldest())!
    expect(seg.records).toEqual([])
    await again.remove(seg.name)
    expect(again.empty).toBe(true)
    await again.close()
  })

  it('refuses a directory another live process holds', async () => {
    const dir = tempDir('spool')
    writeFileSync(join(dir, 'lock'), String(process.ppid))
    await expect(Spool.open(dir)).rejects.toThrow(/in use by process/)
    expect(readFileSync(join(dir, 'lock'), 'utf8')).toBe(String(process.ppid))
  })
})
