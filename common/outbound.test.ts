import { describe, expect, it } from 'vitest'
import { EndpointSchema, type Endpoint } from './entities.js'
import { isPrivateHost } from './ipallow.js'
import { backoffMs, deliveriesFor, expandOutbound, wantsSubs, type Notice } from './outbound.js'

const notice = (o: Partial<Notice> = {}): Notice => ({
  eventId: '3:dep-9',
  kind: 'ftd',
  ts: 1_750_000_000_123,
  affiliateId: 7,
  offerId: 2,
  clickId: 'CLICK_id-1',
  player: 'a1b2',
  amount: '25.50',
  currency: 'EUR',
  ...o,
})
const ep = (o: Partial<Endpoint> = {}): Endpoint => ({
  id: 1,
  affiliateId: 7,
  events: ['ftd'],
  url: 'https://tracker.example/pb?cid={click_id}&e={event}',
  status: 'active',
  createdAt: 0,
  ...o,
})

describe('expandOutbound', () => {
  it.each<[string, string, Partial<Notice>, string]>([
    [
      'every macro',
      'https://t.example/?c={click_id}&e={event}&id={event_id}&a={amount}&cur={currency}&p={player}&aff={affiliate_id}&o={offer_id}&t={ts}',
      {},
      'https://t.example/?c=CLICK_id-1&e=ftd&id=dep-9&a=25.50&cur=EUR&p=a1b2&aff=7&o=2&t=1750000000',
    ],
    ['values are URL-encoded', 'https://t.example/?c={click_id}', { clickId: 'a b&c=d' }, 'https://t.example/?c=a%20b%26c%3Dd'],
    ['the event id loses only our source prefix', 'https://t.example/?id={event_id}', { eventId: '12:ord:77' }, 'https://t.example/?id=ord%3A77'],
    ['an unknown macro stays as written', 'https://t.example/?x={nope}', {}, 'https://t.example/?x={nope}'],
    ['sub-ids of the click, when looked up', 'https://t.example/?s1={sub1}&s5={sub5}', {}, 'https://t.example/?s1=&s5='],
    [
      'a registration without money',
      'https://t.example/?a={amount}&c={currency}',
      { kind: 'registration', amount: '', currency: '' },
      'https://t.example/?a=&c=',
    ],
  ])('%s', (_n, template, o, want) => {
    expect(expandOutbound(template, notice(o))).toBe(want)
  })
})

describe('sub-id macros', () => {
  it('fill from the click the conversion came through', () => {
    expect(expandOutbound('https://t.example/?s1={sub1}&s2={sub2}', notice(), { sub1: 'my click 7', sub2: '' })).toBe(
      'https://t.example/?s1=my%20click%207&s2=',
    )
    const ds = deliveriesFor([notice()], [ep({ url: 'https://t.example/?s1={sub1}' })], new Map([['CLICK_id-1', { sub1: 'abc' }]]))
    expect(ds[0]!.url).toBe('https://t.example/?s1=abc')
  })

  it('only endpoints that use them make the processor look the click up', () => {
    expect(wantsSubs([ep()])).toBe(false)
    expect(wantsSubs([ep(), ep({ url: 'https://t.example/?s={sub3}' })])).toBe(true)
    expect(wantsSubs([ep({ url: 'https://t.example/?s={sub3}', status: 'paused' })])).toBe(false)
  })
})

describe('deliveriesFor', () => {
  it('one delivery per matching active endpoint of the affiliate, with a stable id', () => {
    const eps = [
      ep({ id: 1 }),
      ep({ id: 2, events: ['registration', 'ftd'] }),
      ep({ id: 3, events: ['deposit'] }),
      ep({ id: 4, status: 'paused' }),
      ep({ id: 5, affiliateId: 8 }),
    ]
    const ds = deliveriesFor([notice()], eps)
    expect(ds.map((d) => [d.id, d.endpointId])).toEqual([
      ['dl:3:dep-9:1', 1],
      ['dl:3:dep-9:2', 2],
    ])
    expect(ds[0]).toMatchObject({ affiliateId: 7, eventId: '3:dep-9', kind: 'ftd', url: 'https://tracker.example/pb?cid=CLICK_id-1&e=ftd' })
    expect(deliveriesFor([notice()], eps)).toEqual(ds)
  })

  it('nothing for an affiliate without endpoints, or an event kind nobody asked for', () => {
    expect(deliveriesFor([notice({ affiliateId: 9 })], [ep()])).toEqual([])
    expect(deliveriesFor([notice({ kind: 'withdrawal' })], [ep()])).toEqual([])
  })
})

describe('endpoint URLs', () => {
  it.each<[string, boolean]>([
    ['https://tracker.example/pb?cid={click_id}&s={sub1}', true],
    ['https://{sub1}/cb', false],
    ['https://tracker.{sub1}.example/cb', false],
    ['https://tracker.example:{sub2}/cb', false],
    ['https://tracker%2eexample/cb', false],
    ['https://tracker.example/{event}/{event_id}', true],
  ])('%s → %s', (url, ok) => {
    expect(EndpointSchema.safeParse({ id: 1, affiliateId: 1, events: ['ftd'], url, status: 'active', createdAt: 0 }).success).toBe(ok)
  })
})

describe('backoffMs', () => {
  it.each([
    [1, 1000],
    [2, 2000],
    [3, 4000],
    [6, 32_000],
    [40, 3_600_000],
  ])('after try %i: %i ms', (attempt, want) => {
    expect(backoffMs(attempt, 1000)).toBe(want)
  })
})

describe('isPrivateHost (outbound endpoints may not point inside)', () => {
  it.each<[string, boolean]>([
    ['localhost', true],
    ['api.localhost', true],
    ['printer.local', true],
    ['metadata.google.internal', true],
    ['127.0.0.1', true],
    ['10.1.2.3', true],
    ['172.16.0.1', true],
    ['172.32.0.1', false],
    ['192.168.1.1', true],
    ['169.254.169.254', true],
    ['100.64.0.1', true],
    ['[::1]', true],
    ['[fd00::1]', true],
    ['[fe80::1]', true],
    ['8.8.8.8', false],
    ['[2001:4860:4860::8888]', false],
    ['tracker.example', false],
    ['[::ffff:7f00:1]', true], // 127.0.0.1, as the URL parser writes it
    ['[::ffff:a9fe:a9fe]', true], // 169.254.169.254
    ['[::ffff:808:808]', false], // 8.8.8.8
    ['[64:ff9b::a00:1]', true], // NAT64 of 10.0.0.1
    ['224.0.0.1', true],
    ['255.255.255.255', true],
  ])('%s → %s', (host, want) => {
    expect(isPrivateHost(host)).toBe(want)
  })
})
