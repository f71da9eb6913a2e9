import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { JsonBodyError, JsonNumber, jsonBodyParser, parseJson } from './json.js'

describe('parseJson', () => {
  it.each<[string, unknown]>([
    ['{"a": 1}', { a: 1 }],
    ['{"a": -0}', { a: -0 }],
    ['{"a": 9007199254740991}', { a: 9007199254740991 }],
    ['[1, "x", true, null, {"b": [2]}]', [1, 'x', true, null, { b: [2] }]],
    ['"text"', 'text'],
  ])('%s: safe integers as numbers, the rest as JSON.parse has it', (text, want) => {
    expect(parseJson(text)).toEqual(want)
  })

  it.each([
    '99999999999999999.99',
    '9007199254740992',
    '9007199254740993',
    '0.1',
    '250.0',
    '1e-7',
    '1.5E+3',
    '-12.50',
    '4503599627370495.5', // Number() of it is an integer: still not one
    '1e400',
  ])('keeps %s as its exact text', (text) => {
    const v = parseJson(`{"amount": ${text}}`) as { amount: unknown }
    expect(v.amount).toBeInstanceOf(JsonNumber)
    expect((v.amount as JsonNumber).text).toBe(text)
    expect(String(v.amount)).toBe(text)
  })

  it('never turns a kept number into a float on the way out', () => {
    expect(JSON.stringify(parseJson('{"a": 0.10}'))).toBe('{"a":"0.10"}')
  })

  it.each<[string, RegExp]>([
    ['{"a": 1,}', /not valid JSON/],
    ['', /not valid JSON/],
    ['{"a": 1} x', /not valid JSON/],
    ['{"amount": "1", "amount": "2"}', /Duplicate key 'amount'/],
    ['{"__proto__": {"x": 1}}', /__proto__/],
    ['{"a": {"constructor": {"prototype": {"x": 1}}}}', /constructor\.prototype/],
  ])('refuses %j with a 400', (text, reason) => {
    let err: unknown
    try {
      parseJson(text)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(JsonBodyError)
    expect((err as JsonBodyError).statusCode).toBe(400)
    expect((err as Error).message).toMatch(reason)
  })

  it('keeps a key named constructor that holds no prototype', () => {
    expect(parseJson('{"constructor": "x"}')).toEqual({ constructor: 'x' })
  })
})

describe('jsonBodyParser as a Fastify parser', () => {
  it('replaces the default one and answers bad bodies with 400', async () => {
    const app = Fastify()
    app.addContentTypeParser('application/json', { parseAs: 'string' }, jsonBodyParser)
    app.post('/', async (req) => ({ kind: (req.body as { amount: unknown }).amount instanceof JsonNumber ? 'exact' : typeof (req.body as { amount: unknown }).amount }))
    const ok = await app.inject({ method: 'POST', url: '/', headers: { 'content-type': 'application/json; charset=utf-8' }, payload: '{"amount": 99999999999999999.99}' })
    expect(ok.json()).toEqual({ kind: 'exact' })
    const bad = await app.inject({ method: 'POST', url: '/', headers: { 'content-type': 'application/json' }, payload: '{"amount": ' })
    expect(bad.statusCode).toBe(400)
    await app.close()
  })
})
