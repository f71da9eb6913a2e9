import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { isbot } from 'isbot'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseUa } from '../processor/domain/visitor.js'
import { DEMO_USER_AGENTS, demoClick } from './demo-traffic.js'

const seen: string[] = []
const server = createServer((req, res) => {
  seen.push(req.headers['user-agent'] ?? '')
  res.writeHead(302, { location: `https://brand.example/welcome?cid=c${seen.length}` }).end()
})
let base = ''
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => new Promise<void>((r) => server.close(() => r())))

describe('demo traffic', () => {
  it.each(DEMO_USER_AGENTS.map((ua) => [ua]))('browses like a person: %s', (ua) => {
    expect(isbot(ua)).toBe(false)
    expect(parseUa(ua)).toMatchObject({ isBot: false, browser: expect.stringMatching(/.+/) })
  })

  it("sends its clicks with those user agents, never Node's own", async () => {
    for (let i = 0; i < 40; i++) expect(await demoClick(`${base}/c/demo1?sub1=seo`)).toBe(`c${i + 1}`)
    expect(seen).toHaveLength(40)
    for (const ua of seen) expect(DEMO_USER_AGENTS).toContain(ua)
    expect(seen.filter((ua) => isbot(ua))).toEqual([])
  })
})
