import { describe, expect, it } from 'vitest'
import { BoundedCache } from './cache.js'

describe('BoundedCache', () => {
  it('drops the least recently set tenth past its bound: a value set again is kept', () => {
    const c = new BoundedCache<number>(10)
    for (let i = 0; i < 10; i++) c.set(`k${i}`, i)
    c.set('k0', 100) // set again: now the most recent
    c.set('k10', 10) // past the bound: one (a tenth of 10) dropped, the least recently set
    expect(c.get('k0')).toBe(100)
    expect(c.get('k1')).toBeUndefined()
    expect(c.get('k2')).toBe(2)
    expect(c.get('k10')).toBe(10)
  })

  it('remembers a value known to be absent', () => {
    const c = new BoundedCache<number>(10)
    c.set('gone', null)
    expect(c.get('gone')).toBeNull()
    expect(c.get('never')).toBeUndefined()
  })
})
