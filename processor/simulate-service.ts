/**
 * The simulator as a service of the processor tier: a scenario (the simulator's format, JSON)
 * asked on `commission.simulate` is run through the same pure functions as the two stages, and
 * the result (or what is wrong with the scenario) is the reply. The query API asks it for
 * what-ifs: an affiliate's real events under a proposed deal.
 */
import type { NatsConnection, Subscription } from 'nats'
import type { Logger } from '../common/log.js'
import { SIMULATE_SUBJECT } from '../common/subjects.js'
import { ScenarioSchema, simulate } from './simulator.js'

const enc = new TextEncoder()
const dec = new TextDecoder()

export function serveSimulations(nc: NatsConnection, log: Logger): Subscription {
  // one of the processor processes answers each request
  return nc.subscribe(SIMULATE_SUBJECT, {
    queue: 'processor',
    callback: (err, m) => {
      if (err) return void log.error({ err }, 'simulation subscription failed')
      let reply: unknown
      try {
        const parsed = ScenarioSchema.safeParse(JSON.parse(dec.decode(m.data)))
        reply = parsed.success
          ? { ok: true, result: simulate(parsed.data) }
          : { ok: false, issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) }
      } catch (e) {
        log.error({ err: e }, 'simulation failed')
        reply = { ok: false, issues: [{ path: '', message: String((e as Error).message ?? e).slice(0, 300) }] }
      }
      m.respond(enc.encode(JSON.stringify(reply)))
    },
  })
}
