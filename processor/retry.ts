/**
 * A stage's step on a batch, tried until it goes through: capped exponential backoff between
 * tries, the failure (message, tries, since when, the range) in the stage's stats meanwhile.
 * Both stages run their batches through it.
 */
import type { Logger } from '../common/log.js'
import { sleep } from '../common/nats.js'
import { retryDelayMs, type BatchFailure } from './results.js'

export type RetryStats = { retries: number; failure: BatchFailure | null }

/** `step` until it goes through; undefined once `stopping()` (the range is left unacknowledged,
 *  so it is redone at start). A success clears the failure shown only when it is this batch's. */
export async function retrying<T>(
  batch: readonly { seq: number }[],
  o: { stats: RetryStats; stopping: () => boolean; log: Logger; what: string },
  step: () => Promise<T>,
): Promise<T | undefined> {
  for (let tries = 1; ; tries++) {
    try {
      const out = await step()
      if (o.stats.failure?.first === batch[0]!.seq) o.stats.failure = null
      return out
    } catch (err) {
      if (o.stopping()) return undefined
      o.stats.retries++
      const f: BatchFailure = {
        message: String((err as Error)?.message ?? err).slice(0, 500),
        tries,
        since: o.stats.failure?.since ?? new Date().toISOString(),
        first: batch[0]!.seq,
        last: batch.at(-1)!.seq,
        nextDelayMs: retryDelayMs(tries),
      }
      o.stats.failure = f
      o.log.error({ err, ...f }, `${o.what} failed: nothing of it acknowledged; retrying the same range`)
      await sleep(f.nextDelayMs)
      if (o.stopping()) return undefined
    }
  }
}
