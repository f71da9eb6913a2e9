import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startNatsServer, type EmbeddedNats } from '../../common/nats.js'

/** A real nats-server with JetStream on a free port and a temporary store. */
export async function startTestNats(): Promise<EmbeddedNats & { dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'amp-nats-'))
  const srv = await startNatsServer({ storeDir: dir })
  return {
    ...srv,
    dir,
    stop: async () => {
      await srv.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
