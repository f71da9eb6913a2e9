import type { FastifyInstance } from 'fastify'

/** A tier as the launcher sees it: routes it serves, whether it is ready, how it stops. */
export interface RunningTier {
  readonly name: string
  routes?(app: FastifyInstance): void | Promise<void>
  ready(): boolean
  /** Stop taking work and finish what was taken (flush, ack). */
  stop(): Promise<void>
}
