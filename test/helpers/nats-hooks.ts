import { connect, type NatsConnection } from 'nats'
import { afterAll, beforeAll } from 'vitest'
import { startTestNats } from './nats.js'

/** A nats-server and a connection to it for one test file (vitest hooks), stopped after it. */
export function natsPerFile(): { readonly nc: NatsConnection } {
  const ctx = {} as { nc: NatsConnection; srv: Awaited<ReturnType<typeof startTestNats>> }
  beforeAll(async () => {
    ctx.srv = await startTestNats()
    ctx.nc = await connect({ servers: ctx.srv.url })
  })
  afterAll(async () => {
    await ctx.nc?.drain()
    await ctx.srv?.stop()
  })
  return ctx
}
