import { describe, expect, it } from 'vitest'
import { deepLinkTarget, OfferSchema } from './entities.js'

describe('deepLinkTarget', () => {
  const offer = { deepLinkHosts: ['brand.example', '*.partner.example'] }
  it.each<[string, boolean]>([
    ['https://brand.example/promo?x=1', true],
    ['http://brand.example/', true],
    ['https://BRAND.example/a', true],
    ['https://www.brand.example/', false], // not a wildcard entry
    ['https://partner.example/', true],
    ['https://shop.partner.example/x', true],
    ['https://a.b.partner.example/x', true],
    ['https://evilpartner.example/', false],
    ['https://partner.example.evil.test/', false],
    ['https://brand.example@evil.test/', false],
    ['https://user:pw@brand.example/', false],
    ['javascript:alert(1)', false],
    ['ftp://brand.example/file', false],
    ['//brand.example/', false],
    ['not a url', false],
  ])('%s → %s', (url, want) => {
    expect(deepLinkTarget(offer, url) !== undefined).toBe(want)
  })

  it('allows nothing when the offer lists no hosts', () => {
    expect(deepLinkTarget({ deepLinkHosts: [] }, 'https://brand.example/')).toBeUndefined()
  })

  it('refuses host patterns that are not host names', () => {
    const base = { id: 1, name: 'o', destination: 'https://brand.example/', createdAt: 0 }
    expect(OfferSchema.safeParse({ ...base, deepLinkHosts: ['*.brand.example', 'Brand.Example'] }).success).toBe(true)
    for (const bad of ['*', 'http://brand.example', 'brand.example/path', '*.*.example', 'localhost'])
      expect(OfferSchema.safeParse({ ...base, deepLinkHosts: [bad] }).success, bad).toBe(false)
  })
})
