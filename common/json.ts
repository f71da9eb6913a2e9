/**
 * JSON request bodies parsed without losing a digit. `JSON.parse` turns every number into a
 * float: `99999999999999999.99` becomes `100000000000000000`, silently, before any schema
 * sees it. Here a number keeps its exact text: a safe integer comes out as a JS number (it
 * is exact), any other number as a `JsonNumber` holding the text it was sent as, which
 * `AmountSchema` takes as is and every other schema refuses like any non-number.
 */
import { isInteger, parse } from 'lossless-json'

/** A JSON number that a JS number cannot hold exactly (a fraction, or an integer beyond
 *  2^53), kept as the text it was sent as. No `valueOf`: it never turns into a float. */
export class JsonNumber {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text
  }
  /** Written back as a string: JSON.stringify cannot emit a raw number from text. */
  toJSON(): string {
    return this.text
  }
}

function parseNumber(text: string): number | JsonNumber {
  if (isInteger(text)) {
    const n = Number(text)
    if (Number.isSafeInteger(n)) return n
  }
  return new JsonNumber(text)
}

export class JsonBodyError extends Error {
  readonly statusCode = 400
}

/** Keys that would reach an object's prototype in code that merges bodies; refused like
 *  Fastify's default parser does (secure-json-parse). */
function checkKeys(v: unknown): void {
  if (v === null || typeof v !== 'object' || v instanceof JsonNumber) return
  if (Array.isArray(v)) {
    for (const x of v) checkKeys(x)
    return
  }
  for (const k of Object.keys(v)) {
    const x = (v as Record<string, unknown>)[k]
    if (k === '__proto__') throw new JsonBodyError('the body is not valid JSON: a key named __proto__ is not allowed')
    if (k === 'constructor' && x !== null && typeof x === 'object' && Object.hasOwn(x, 'prototype'))
      throw new JsonBodyError('the body is not valid JSON: constructor.prototype is not allowed')
    checkKeys(x)
  }
}

/** Parse JSON text; numbers as described above. Throws JsonBodyError (a 400) on bad input,
 *  including a key repeated with another value (which of two amounts was meant?). */
export function parseJson(text: string): unknown {
  let v: unknown
  try {
    v = parse(text, null, parseNumber)
  } catch (err) {
    throw new JsonBodyError(`the body is not valid JSON: ${(err as Error).message}`)
  }
  // Only bodies that name one of the two keys pay for the walk.
  if (text.includes('__proto__') || text.includes('constructor')) checkKeys(v)
  return v
}

/** Fastify content-type parser for application/json (register with `parseAs: 'string'`). */
export function jsonBodyParser(_req: unknown, body: string | Buffer, done: (err: Error | null, value?: unknown) => void): void {
  try {
    done(null, parseJson(typeof body === 'string' ? body : body.toString('utf8')))
  } catch (err) {
    done(err as Error)
  }
}
