import { describe, expect, it } from 'vitest'
import { IpAllowList, parseCidr } from './ipallow.js'

describe('IpAllowList', () => {
  it.each<[string, string[], string, boolean]>([
    ['empty list allows all', [], '203.0.113.9', true],
    ['exact IPv4', ['203.0.113.9'], '203.0.113.9', true],
    ['exact IPv4, other address', ['203.0.113.9'], '203.0.113.10', false],
    ['IPv4 /24 inside', ['198.51.100.0/24'], '198.51.100.255', true],
    ['IPv4 /24 outside', ['198.51.100.0/24'], '198.51.101.0', false],
    ['IPv4 /0 allows every IPv4', ['0.0.0.0/0'], '8.8.8.8', true],
    ['IPv4-mapped IPv6 matches the IPv4 rule', ['127.0.0.1'], '::ffff:127.0.0.1', true],
    ['IPv4-mapped IPv6 outside the rule', ['10.0.0.0/8'], '::ffff:127.0.0.1', false],
    ['IPv6 /32 inside', ['2001:db8::/32'], '2001:db8:1::5', true],
    ['IPv6 /32 outside', ['2001:db8::/32'], '2001:db9::1', false],
    ['IPv6 rule does not admit IPv4', ['::/0'], '127.0.0.1', false],
    ['several entries, second matches', ['10.0.0.0/8', '192.0.2.1'], '192.0.2.1', true],
    ['garbage address never allowed', ['10.0.0.0/8'], 'not-an-ip', false],
  ])('%s', (_n, entries, ip, want) => {
    expect(new IpAllowList(entries).allows(ip)).toBe(want)
  })

  it.each<[string, RegExp | null]>([
    ['10.0.0.0/8', null],
    ['2001:db8::/32', null],
    ['1.2.3.4', null],
    ['10.0.0.0/33', /prefix outside 0-32/],
    ['2001:db8::/129', /prefix outside 0-128/],
    ['10.0.0.0/', /prefix/],
    ['10.0.0.0/8/8', /more than one/],
    ['example.com', /not an IP address/],
    ['10.0.0.256', /not an IP address/],
  ])('parseCidr(%s)', (entry, err) => {
    const r = parseCidr(entry)
    if (err) expect(r).toMatch(err)
    else expect(typeof r).toBe('object')
  })

  it('refuses a bad entry at construction', () => {
    expect(() => new IpAllowList(['10.0.0.0/99'])).toThrow(/prefix/)
  })
})
