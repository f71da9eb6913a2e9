import { describe, expect, it } from 'vitest'

import { KvBulk } from './kvbulk.js'
import { ensureTopology } from './nats.js'
import { BUCKETS } from './subjects.js'
import { natsPerFile } from '../test/helpers/nats-hooks.js'
import { testConfig } from '../test/helpers/config.js'

const t = natsPerFile()
const enc = new TextEncoder()
const dec = new TextDecoder()

describe('KvBulk', () => {
  it('writes many keys and reads them back as the library does; a key never written or deleted reads as null', async () => {
    const kv = await t.nc.jetstream().views.kv('bulk1', { history: 1 })
    const bulk = new KvBulk(t.nc, 'bulk1')
    const entries = Array.from({ length: 2_500 }, (_, i) => [`p.${i}`, enc.encode(JSON.stringify({ i }))] as const)
    await bulk.putMany(entries)
    expect((await kv.get('p.1234'))?.json()).toEqual({ i: 1234 })
    await kv.put('p.7', enc.encode('"changed"'))
    await kv.delete('p.8')
    const got = await bulk.getMany(['p.0', 'p.2499', 'p.7', 'p.8', 'never'])
    expect(got.map((v) => (v ? dec.decode(v) : null))).toEqual(['{"i":0}', '{"i":2499}', '"changed"', null, null])
    expect(await bulk.getMany([])).toEqual([])
  })

  it("rejects with the stream's reason when a write is refused, and refuses a key the library would", async () => {
    await t.nc.jetstream().views.kv('bulk2', { history: 1, maxValueSize: 16 })
    const bulk = new KvBulk(t.nc, 'bulk2')
    await expect(
      bulk.putMany([
        ['ok', enc.encode('small')],
        ['big', enc.encode('x'.repeat(100))],
      ]),
    ).rejects.toThrow(/writing big failed/)
    await expect(bulk.putMany([['has space', enc.encode('x')]])).rejects.toThrow(/invalid key/)
    await expect(bulk.getMany(['a.*'])).rejects.toThrow(/invalid key/)
  })

  it('times out when no answer comes (no such bucket)', async () => {
    const bulk = new KvBulk(t.nc, 'nosuch', 500)
    await expect(bulk.getMany(['a'])).rejects.toThrow(/nosuch/)
  })

  it("the processor's state buckets allow direct reads", async () => {
    await ensureTopology(t.nc, testConfig())
    const jsm = await t.nc.jetstreamManager()
    for (const b of [BUCKETS.players, BUCKETS.books]) expect((await jsm.streams.info(`KV_${b}`)).config.allow_direct).toBe(true)
  })
})
