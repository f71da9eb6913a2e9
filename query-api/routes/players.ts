/** Players: an operator's reassignment, applied by the processor in order with the player's events. */
import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import { HttpError } from '../../common/errors.js'
import { encodeEvents, type ReassignEvent } from '../../common/events.js'
import { playerPartition } from '../../common/keys.js'
import { eventSubject } from '../../common/subjects.js'
import { OPERATOR, publisher, type ApiDeps, type ApiPlugin } from '../http.js'

const Reassign = z
  .object({
    playerId: z.string().regex(/^[\x21-\x7e]{1,128}$/, 'must be the player id the platform sends, printable ASCII without spaces'),
    affiliateId: z.number().int().nonnegative().max(4_294_967_295),
    note: z.string().trim().min(1, 'say why (it is kept with the change)').max(500),
  })
  .strict()

/** Player ids never enter the append-only log in the clear (DOMAIN.md: pseudonymised). */
export function playerAuditKey(d: ApiDeps, playerId: string): string {
  if (!d.pseudonym) throw new HttpError(503, 'unavailable', 'this process has no pseudonym key')
  return d.pseudonym(playerId)
}

export const playerRoutes: ApiPlugin = (app, d) => {
  // Reassign a player for life from now on (0: organic). Applied by the processor in order
  // with the player's events; the events log keeps who, when, from and to.
  app.post('/api/players/reassign', { config: { who: OPERATOR }, schema: { summary: 'Reassign a player from now on (0: organic)', body: Reassign } }, async (req, reply) => {
    const body = req.body
    if (body.affiliateId > 0 && !d.store.affiliates.get(body.affiliateId)) throw new HttpError(404, 'not_found', `no affiliate ${body.affiliateId}`)
    const publish = publisher(d)
    const auditKey = playerAuditKey(d, body.playerId)
    const e: ReassignEvent = { kind: 'reassign', id: `ra:${randomUUID()}`, ts: Date.now(), playerId: body.playerId, affiliateId: body.affiliateId, by: 'operator', note: body.note }
    // On the player's partition, in order with the player's events.
    const seq = await publish(eventSubject(playerPartition(e.playerId, d.partitions!), e.kind), encodeEvents([e]), e.id)
    // The processor applies it in order; the audit log keeps the request (the events log, the effect).
    await d.store.audit.append({ at: e.ts, by: 'operator', entity: 'player', key: auditKey, action: 'update', after: { affiliateId: body.affiliateId, event: e.id }, note: body.note })
    return reply.code(202).send({ status: 'accepted', id: e.id, seq })
  })
}
