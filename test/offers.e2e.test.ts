/**
 * Offers through the embedded app: a link made for an offer takes the offer's destination;
 * a deep link (?url=) is followed only to a host on the offer's allow-list, otherwise the
 * visitor lands on the default destination; affiliates see only active offers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, spawnEmbedded, type EmbeddedApp } from './helpers/app.js'

let app: EmbeddedApp
let call: EmbeddedApp['call']

beforeAll(async () => {
  app = await spawnEmbedded('offers-e2e')
  call = app.call
}, 120_000)

afterAll(async () => {
  await app?.dispose()
})

describe('offers and deep links', () => {
  it('links take the offer destination; deep links go only where the offer allows', async () => {
    const offer = await call('POST', '/api/offers', { name: 'Welcome bonus', destination: 'https://brand.example/welcome?cid={click_id}', deepLinkHosts: ['brand.example', '*.promo.example'] })
    expect(offer.status).toBe(201)
    const paused = (await call('POST', '/api/offers', { name: 'Old', destination: 'https://brand.example/old', status: 'paused' })).body
    expect((await call('POST', '/api/offers', { name: 'x', destination: 'ftp://nope' })).status).toBe(400)
    const aff = (await call('POST', '/api/affiliates', { name: 'A' })).body
    const link = await call('POST', '/api/links', { affiliateId: aff.id, offerId: offer.body.id })
    expect(link.status).toBe(201)
    expect(link.body).toMatchObject({ offerId: offer.body.id, destination: 'https://brand.example/welcome?cid={click_id}' })
    expect((await call('POST', '/api/links', { affiliateId: aff.id, offerId: 9999 })).status).toBe(400)
    expect((await call('POST', '/api/links', { affiliateId: aff.id })).body.fields).toMatchObject({ destination: 'give a destination or an offerId' })
    const plain = (await call('POST', '/api/links', { affiliateId: aff.id, destination: 'https://brand.example/plain' })).body
    await new Promise((r) => setTimeout(r, 300))

    const go = async (code: string, url?: string) => {
      const r = await fetch(`${app.url}/c/${code}${url ? `?url=${encodeURIComponent(url)}` : ''}`, { redirect: 'manual' })
      expect(r.status).toBe(302)
      return r.headers.get('location')!
    }
    expect(await go(link.body.code)).toMatch(/^https:\/\/brand\.example\/welcome\?cid=[A-Za-z0-9_-]{52}$/)
    expect(await go(link.body.code, 'https://brand.example/games/slots?x=1')).toMatch(/^https:\/\/brand\.example\/games\/slots\?x=1&click_id=[A-Za-z0-9_-]{52}$/)
    expect(await go(link.body.code, 'https://summer.promo.example/')).toMatch(/^https:\/\/summer\.promo\.example\/\?click_id=/)
    expect(await go(link.body.code, 'https://evil.example/phish')).toMatch(/^https:\/\/brand\.example\/welcome\?cid=/)
    expect(await go(link.body.code, 'javascript:alert(1)')).toMatch(/^https:\/\/brand\.example\/welcome\?cid=/)
    expect(await go(plain.code, 'https://brand.example/games')).toMatch(/^https:\/\/brand\.example\/plain\?click_id=/) // no offer: no deep links

    // the operator narrows the allow-list; ingest follows
    await call('PATCH', `/api/offers/${offer.body.id}`, { deepLinkHosts: ['*.promo.example'] })
    await new Promise((r) => setTimeout(r, 300))
    expect(await go(link.body.code, 'https://brand.example/games/slots')).toMatch(/^https:\/\/brand\.example\/welcome\?cid=/)

    const token = (await call('POST', `/api/affiliates/${aff.id}/tokens`, { ttlDays: 1 })).body.token
    const seen = (await api(app.url, token)('GET', '/api/offers')).body.items.map((o: { id: number }) => o.id)
    expect(seen).toContain(offer.body.id)
    expect(seen).not.toContain(paused.id)
    expect((await api(app.url, token)('POST', '/api/offers', { name: 'mine', destination: 'https://x.example/' })).status).toBe(403)
  })
})
