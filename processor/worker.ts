/**
 * piscina worker entry: pure compute on a batch, of either stage. Secrets arrive once, in workerData.
 */
import { workerData } from 'node:worker_threads'
import { ClickIdSigner } from '../common/clickid.js'
import type { IpStorage } from './domain/visitor.js'
import { compute, type ComputeContext, type TaskInput, type TaskOutput } from './pipeline.js'
import { pseudonymizer } from '../common/pseudonym.js'
import { loadHosting } from './domain/fraud/hosting.js'
import { computeAffiliate, computeClose, type AffiliateTask, type AffiliateTaskOutput, type CloseTask, type CloseTaskOutput } from './affiliate-compute.js'

export type WorkerInit = { clickSecret: string; pseudonymSecret: string; windowMs: number; ipStorage: IpStorage }

const init = workerData as WorkerInit
const signer = new ClickIdSigner(init.clickSecret)
const ctx: ComputeContext = {
  verify: (id) => signer.verify(id),
  pseudonym: pseudonymizer(init.pseudonymSecret),
  windowMs: init.windowMs,
  ipStorage: init.ipStorage,
  ipKey: init.pseudonymSecret,
}

// the hosting ranges, loaded as the worker starts rather than on its first click
setImmediate(loadHosting)

export default function run(task: TaskInput | AffiliateTask | CloseTask): TaskOutput | AffiliateTaskOutput | CloseTaskOutput {
  return task.kind === 'affiliate' ? computeAffiliate(task) : task.kind === 'close' ? computeClose(task) : compute(task, ctx)
}
