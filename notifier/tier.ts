/**
 * The notifier tier: delivers the DELIVERIES queue (outbound postbacks). The launcher runs
 * it wherever the processor runs (`--tier processor`), in the same process: it writes the
 * attempt log to the same ClickHouse, which with chDB lives inside that process.
 */
import type { NatsConnection } from 'nats'
import type { ClickHouseClient } from '../clickhouse/client.js'
import type { Config } from '../common/config.js'
import type { Logger } from '../common/log.js'
import type { RunningTier } from '../common/tier.js'
import { Notifier } from './notifier.js'

export async function startNotifier(nc: NatsConnection, ch: ClickHouseClient, cfg: Config, log: Logger): Promise<RunningTier & { notifier: Notifier }> {
  const notifier = new Notifier(nc, ch, log, cfg.outbound)
  await notifier.start()
  let stopping = false
  return {
    name: 'notifier',
    notifier,
    ready: () => !stopping && !nc.isClosed(),
    async stop() {
      stopping = true
      await notifier.stop()
    },
  }
}
