/**
 * The OpenAPI document of /api, built from the same zod schemas the routes validate with.
 * `test/openapi.test.ts` checks that every registered /api route has an entry and that no
 * entry names a route that does not exist, so the document cannot drift from the code.
 */
import { z } from 'zod'

export type Who = 'operator' | 'operator or affiliate' | 'any principal'
export type ApiDoc = {
  method: 'get' | 'post' | 'patch' | 'delete'
  /** Fastify style: /api/affiliates/:id */
  path: string
  summary: string
  who: Who
  body?: z.ZodType
  query?: z.ZodType
}

const jsonSchema = (s: z.ZodType) => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>
  return rest
}

export function openApi(docs: readonly ApiDoc[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const d of docs) {
    const path = d.path.replace(/:([A-Za-z]+)/g, '{$1}')
    const params = [...d.path.matchAll(/:([A-Za-z]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }))
    const query = d.query ? jsonSchema(d.query) : undefined
    const queryParams = Object.entries((query?.properties ?? {}) as Record<string, unknown>).map(([name, schema]) => ({
      name,
      in: 'query',
      required: ((query?.required ?? []) as string[]).includes(name),
      schema,
    }))
    paths[path] ??= {}
    paths[path][d.method] = {
      summary: d.summary,
      description: `Who may call it: ${d.who}.`,
      security: [{ bearer: [] }],
      ...(params.length || queryParams.length ? { parameters: [...params, ...queryParams] } : {}),
      ...(d.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(d.body) } } } } : {}),
      responses: {
        '200': { description: 'done' },
        '400': { description: 'invalid input: `{error, reason, fields}` naming each field and what is wrong' },
        '401': { description: 'no or invalid credential' },
        '403': { description: 'the credential may not do this (an affiliate asking for another affiliate, or an operator-only route)' },
      },
    }
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Affiliate platform API', version, description: 'Send `Authorization: Bearer <operator key | affiliate token>`.' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  }
}
