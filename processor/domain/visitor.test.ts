import { describe, expect, it } from 'vitest'
import { countryOf } from '../../common/geo.js'
import { parseUa, storedIp, truncateIp } from './visitor.js'

const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1'
const WIN_CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36'
const ANDROID_TAB = 'Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36'

describe('parseUa', () => {
  it.each<[string, string, { device: string; os: string; browser: string; isBot: boolean }]>([
    ['iPhone Safari', IPHONE, { device: 'mobile', os: 'iOS', browser: 'Safari', isBot: false }],
    ['Windows Chrome', WIN_CHROME, { device: 'desktop', os: 'Windows', browser: 'Chrome', isBot: false }],
    ['Android tablet', ANDROID_TAB, { device: 'tablet', os: 'Android', browser: 'Chrome', isBot: false }],
    ['Googlebot', 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)', { device: 'bot', os: '', browser: 'Googlebot', isBot: true }],
    ['headless Chrome', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36', { device: 'bot', os: 'Linux', browser: expect.any(String) as never, isBot: true }],
    ['curl', 'curl/8.4.0', { device: 'bot', os: '', browser: expect.any(String) as never, isBot: true }],
    ['no user agent', '', { device: '', os: '', browser: '', isBot: false }],
  ])('%s', (_n, ua, want) => {
    expect(parseUa(ua)).toEqual(want)
  })

  it('answers a repeated user agent from its cache (same object)', () => {
    expect(parseUa(WIN_CHROME)).toBe(parseUa(WIN_CHROME))
  })
})

describe('countryOf', () => {
  it.each<[string, string]>([
    ['8.8.8.8', 'US'],
    ['81.2.69.160', 'GB'],
    ['2001:4860:4860::8888', 'US'],
    ['::ffff:8.8.8.8', 'US'],
    ['127.0.0.1', ''],
    ['10.0.0.1', ''],
    ['not an ip', ''],
  ])('%s → %s', (ip, want) => {
    expect(countryOf(ip)).toBe(want)
  })
})

describe('stored IP', () => {
  it.each<[string, string]>([
    ['203.0.113.77', '203.0.113.0'],
    ['::ffff:203.0.113.77', '203.0.113.0'],
    ['2001:db8:85a3:8d3:1319:8a2e:370:7348', '2001:db8:85a3::'],
    ['2001:db8::1', '2001:db8:0::'],
    ['2001:0db8:0001::1', '2001:db8:1::'],
    ['garbage', ''],
  ])('truncate %s → %s', (ip, want) => {
    expect(truncateIp(ip)).toBe(want)
  })

  it('pseudonymises with a keyed hash: stable per key, different across keys, never the address', () => {
    const a = storedIp('203.0.113.77', 'pseudonymise', 'k1')
    expect(a).toMatch(/^[0-9a-f]{32}$/)
    expect(storedIp('203.0.113.77', 'pseudonymise', 'k1')).toBe(a)
    expect(storedIp('203.0.113.78', 'pseudonymise', 'k1')).not.toBe(a)
    expect(storedIp('203.0.113.77', 'pseudonymise', 'k2')).not.toBe(a)
    expect(storedIp('', 'pseudonymise', 'k1')).toBe('')
  })

  it('keeps the full address only when told to', () => {
    expect(storedIp('203.0.113.77', 'full', 'k')).toBe('203.0.113.77')
  })
})
