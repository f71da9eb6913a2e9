/**
 * The entity store against a real nats-server: lists and gets come from the watched
 * in-memory index (no KV read per call), a process reads its own writes at once, another
 * connection's writes once its watch delivers them, and a link is found by id from the index.
 */
import type { KV, NatsConnection } from 'nats'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { connectNats, ensureTopology } from '../nats.js'
import { testConfig } from '../../test/helpers/config.js'
import { startTestNats } from '../../test/helpers/nats.js'
import { LinkSchema, type Link } from './links.js'
import { WatchedBucket } from './kv.js'
import { EntityStore } from './store.js'

let nats: Awaited<ReturnType<typeof startTestNats>>
let ncA: NatsConnection
let ncB: NatsConnection
let a: EntityStore
let b: EntityStore
const now = Date.now()

beforeAll(async () => {
  nats = await startTestNats()
  ncA = await connectNats(nats.url, 'store-a')
  ncB = await connectNats(nats.url, 'store-b')
  await ensureTopology(ncA, testConfig())
  a = await EntityStore.open(ncA)
  b = await EntityStore.open(ncB)
}, 60_000)

afterAll(async () => {
  a?.stop()
  b?.stop()
  await ncA?.close()
  await ncB?.close()
  await nats?.stop()
})

const repos = (s: EntityStore) => [s.brands, s.affiliates, s.links, s.deals, s.sources, s.endpoints, s.offers]

/** Counts every read of the store's buckets while `fn` runs. */
async function kvReads(s: EntityStore, fn: () => unknown): Promise<number> {
  const spies = repos(s).flatMap((r) => (['get', 'keys', 'history', 'watch'] as const satisfies readonly (keyof KV)[]).map((m) => vi.spyOn(r.bucket.kv, m)))
  try {
    await fn()
    return spies.reduce((n, sp) => n + sp.mock.calls.length, 0)
  } finally {
    for (const sp of spies) sp.mockRestore()
  }
}

describe('lists and gets from the watched index', () => {
  it('serve every entity with no KV read, and show a write at once to the same store', async () => {
    const brand = await a.brands.create({ name: 'Brand' }, now)
    const offer = await a.offers.create({ name: 'Offer', brandId: brand.id, destination: 'https://brand.example/' }, now)
    const aff = await a.affiliates.create({ name: 'Aff' }, now)
    const link = await a.links.create({ affiliateId: aff.id, destination: 'https://brand.example/?c={click_id}', offerId: offer.id }, now)
    await a.deals.addCpaVersion(aff.id, { amount: '10.00', currency: 'EUR', effectiveFrom: now }, now)
    const { source } = await a.sources.create({ name: 'Platform' }, now)
    const ep = await a.endpoints.create({ affiliateId: aff.id, events: ['ftd'], url: 'https://tracker.example/pb?e={event_id}' }, now)

    const reads = await kvReads(a, () => {
      expect(a.brands.list().map((x) => x.id)).toContain(brand.id)
      expect(a.brands.get(brand.id)).toEqual(brand)
      expect(a.offers.list().map((x) => x.id)).toContain(offer.id)
      expect(a.offers.get(offer.id)).toEqual(offer)
      expect(a.affiliates.list().map((x) => x.id)).toContain(aff.id)
      expect(a.affiliates.get(aff.id)).toEqual(aff)
      expect(a.links.list().map((x) => x.id)).toContain(link.id)
      expect(a.links.get(link.id)).toEqual(link)
      expect(a.links.byCode(link.code)).toEqual(link)
      expect(a.deals.get(aff.id)?.versions.map((v) => v.amount)).toEqual(['10.00'])
      expect(a.deals.list().map((d) => d.affiliateId)).toContain(aff.id)
      expect(a.sources.get(source.id)).toEqual(source)
      expect(a.sources.list().map((x) => x.id)).toContain(source.id)
      expect(a.endpoints.get(ep.id)).toEqual(ep)
      expect(a.endpoints.list().map((x) => x.id)).toContain(ep.id)
    })
    expect(reads).toBe(0)
  })

  it('shows an update and a delete to the immediately following list and get', async () => {
    const aff = await a.affiliates.create({ name: 'Before' }, now)
    await a.affiliates.update(aff.id, { name: 'After', status: 'suspended' }, now)
    expect(a.affiliates.get(aff.id)).toMatchObject({ name: 'After', status: 'suspended' })
    expect(a.affiliates.list().find((x) => x.id === aff.id)?.name).toBe('After')

    const link = await a.links.create({ affiliateId: aff.id, destination: 'https://brand.example/' }, now)
    await a.links.update(link, { status: 'paused' }, now + 1)
    expect(a.links.get(link.id)).toMatchObject({ status: 'paused', updatedAt: now + 1 })
    expect(a.links.list().find((x) => x.id === link.id)?.status).toBe('paused')

    await a.deals.addCpaVersion(aff.id, { amount: '1', currency: 'EUR', effectiveFrom: now }, now)
    await a.deals.addCpaVersion(aff.id, { amount: '2', currency: 'EUR', effectiveFrom: now + 1 }, now)
    expect(a.deals.get(aff.id)?.versions.map((v) => v.amount)).toEqual(['1', '2'])

    const { source } = await a.sources.create({ name: 'Old' }, now)
    await a.sources.update(source.id, { name: 'New' }, now)
    expect(a.sources.get(source.id)?.name).toBe('New')
    const rotated = await a.sources.rotate(source.id, 60_000, now)
    expect(a.sources.get(source.id)).toEqual(rotated.source)

    const ep = await a.endpoints.create({ affiliateId: aff.id, events: ['registration'], url: 'https://tracker.example/' }, now)
    await a.endpoints.delete(ep.id, now)
    expect(a.endpoints.get(ep.id)).toBeUndefined()
    expect(a.endpoints.list().some((x) => x.id === ep.id)).toBe(false)
  })

  it("reads its own writes from the write's result, with no wait on its watch", async () => {
    const nc = await connectNats(nats.url, 'store-d')
    const d = await EntityStore.open(nc)
    // With its watches ended, only the writes themselves can bring their results into the index.
    d.stop()
    try {
      const aff = await d.affiliates.create({ name: 'Own' }, now)
      expect(d.affiliates.get(aff.id)).toEqual(aff)
      await d.affiliates.update(aff.id, { name: 'Own, renamed' }, now)
      expect(d.affiliates.list().find((x) => x.id === aff.id)?.name).toBe('Own, renamed')
      const link = await d.links.create({ affiliateId: aff.id, destination: 'https://brand.example/own' }, now)
      expect(d.links.get(link.id)).toEqual(link)
      await d.deals.addCpaVersion(aff.id, { amount: '3', currency: 'EUR', effectiveFrom: now }, now)
      expect(d.deals.get(aff.id)?.versions).toHaveLength(1)
      const ep = await d.endpoints.create({ affiliateId: aff.id, events: ['ftd'], url: 'https://tracker.example/own' }, now)
      expect(d.endpoints.get(ep.id)).toEqual(ep)
      await d.endpoints.delete(ep.id, now)
      expect(d.endpoints.get(ep.id)).toBeUndefined()
    } finally {
      await nc.close()
    }
  })

  it("shows another connection's create and update once its watch delivers them", async () => {
    const aff = await b.affiliates.create({ name: 'From B' }, now)
    const offer = await b.offers.create({ name: 'B offer', destination: 'https://b.example/' }, now)
    await vi.waitFor(() => expect(a.affiliates.get(aff.id)).toEqual(aff), { timeout: 5_000 })
    await vi.waitFor(() => expect(a.offers.list().some((o) => o.id === offer.id)).toBe(true), { timeout: 5_000 })

    await b.affiliates.update(aff.id, { status: 'suspended' }, now)
    await vi.waitFor(() => expect(a.affiliates.get(aff.id)?.status).toBe('suspended'), { timeout: 5_000 })
    // and the writer itself saw it at once
    expect(b.affiliates.get(aff.id)?.status).toBe('suspended')
  })
})

describe('a link by id', () => {
  it('is found from the index, no scan and no KV read, for links made here, elsewhere, and before the store opened', async () => {
    const aff = await a.affiliates.create({ name: 'Linker' }, now)
    const mine = await a.links.create({ affiliateId: aff.id, destination: 'https://brand.example/1' }, now)
    const theirs = await b.links.create({ affiliateId: aff.id, destination: 'https://brand.example/2', code: 'from-b-1' }, now)
    await vi.waitFor(() => expect(a.links.get(theirs.id)).toEqual(theirs), { timeout: 5_000 })

    // no scan: neither the bucket's keys nor the in-memory links are walked
    const map = a.links.view.map
    const walks = (['values', 'entries', 'keys', 'forEach', Symbol.iterator] as const).map((m) => vi.spyOn(map, m as 'values'))
    const reads = await kvReads(a, () => {
      expect(a.links.get(mine.id)).toEqual(mine)
      expect(a.links.get(theirs.id)?.code).toBe('from-b-1')
      expect(a.links.get(999_999)).toBeUndefined()
    })
    for (const w of walks) {
      expect(w).not.toHaveBeenCalled()
      w.mockRestore()
    }
    expect(reads).toBe(0)

    // A store opened later builds the id index from the bucket as it is: no migration needed.
    const nc = await connectNats(nats.url, 'store-c')
    try {
      const c = await EntityStore.open(nc)
      expect(c.links.get(mine.id)).toEqual(mine)
      expect(c.links.get(theirs.id)).toEqual(theirs)
      c.stop()
    } finally {
      await nc.close()
    }
  })
})

describe('WatchedBucket.apply', () => {
  it('never rolls a key back to an older revision, nor back from a delete', async () => {
    const kv = await ncA.jetstream().views.kv('links', { bindOnly: true })
    const view = new WatchedBucket<Link>(kv, LinkSchema, () => {}, { filter: 'code.none-such', idOf: (l) => l.id })
    await view.ready
    const v1 = LinkSchema.parse({ id: 7, code: 'abc', affiliateId: 1, offerId: 0, destination: 'https://x.example/1', status: 'active', createdAt: now })
    const v2 = { ...v1, destination: 'https://x.example/2' }
    view.apply('code.abc', v2, 10)
    view.apply('code.abc', v1, 9)
    expect(view.byId(7)).toEqual(v2)
    view.apply('code.abc', undefined, 11)
    view.apply('code.abc', v2, 10)
    expect(view.byId(7)).toBeUndefined()
    expect(view.map.size).toBe(0)
    view.stop()
  })
})
