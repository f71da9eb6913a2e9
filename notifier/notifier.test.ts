import { describe, expect, it } from 'vitest'
import { httpGet } from './notifier.js'

describe('httpGet never reaches inside unless allowed', () => {
  it.each(['http://127.0.0.1:9/', 'http://[::ffff:7f00:1]:9/', 'http://localhost:9/'])('%s is refused', async (url) => {
    await expect(httpGet(url, 2000, false, {})).rejects.toThrow(/private address/)
  })
  it('with POSTBACK_ALLOW_PRIVATE it connects (here: refused by the closed port)', async () => {
    await expect(httpGet('http://127.0.0.1:9/', 2000, true, {})).rejects.toThrow(/ECONNREFUSED/)
  })
})
