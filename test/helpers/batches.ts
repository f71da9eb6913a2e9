/** The affiliate stage in process over a scenario's facts split into batches, with batches
 *  delivered again (each redelivery must write nothing): what a run of the running system may do. */
import { expect } from 'vitest'
import type { StageFact } from '../../processor/domain/commission/accrual.js'
import type { Reference } from '../../processor/domain/commission/affiliate.js'
import { InProcessStage } from '../../processor/simulator.js'

/** `sizes`: the batches' sizes (the rest in one); `again`: after each batch, earlier ones delivered again. */
export function inBatches(facts: readonly StageFact[], ref: Reference, sizes: readonly number[], again: readonly number[]): InProcessStage {
  const stage = new InProcessStage(ref)
  const batches: StageFact[][] = []
  for (let at = 0, k = 0; at < facts.length; k++) {
    const size = sizes[k] ?? Infinity
    batches.push(facts.slice(at, at + size))
    at += size
  }
  batches.forEach((b, i) => {
    stage.apply(b)
    // an earlier batch delivered again: nothing new is written
    for (const r of again) expect(stage.apply(batches[r % (i + 1)]!)).toEqual([])
  })
  return stage
}
