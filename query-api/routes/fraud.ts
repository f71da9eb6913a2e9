/**
 * Fraud and traffic quality (docs/fraud.md): the rules' settings, what they found (the feed and
 * its drill-down), the worst affiliates and sub-ids, click-to-conversion times, the review queue
 * and its decisions, and the affiliate's side (its flags, and appeals answered in the queue).
 *
 * An affiliate sees only findings on its own traffic, with their evidence; never a player's key,
 * never another affiliate's data. Decisions are the fraud team's (operators), written to the
 * ledger by the commission engine through the event stream, and to the audit log.
 */
import { randomBytes } from 'node:crypto'
import { z } from 'zod'
import type { KV } from 'nats'
import { queryRows } from '../../clickhouse/client.js'
import { REVIEW_SUBJECT, ReviewCommandSchema } from '../../common/close.js'
import { FraudSettingsPatchSchema, fraudSettingsFor } from '../../common/entities/fraud.js'
import { HttpError } from '../../common/errors.js'
import { canonicalAmount } from '../../common/money.js'
import { FRAUD_ACTIONS, FRAUD_REASONS } from '../../common/vocabulary.js'
import type { Appeal } from '../../common/api.js'
import { scopeAffiliate } from '../auth.js'
import { rateAnomalies } from '../fraud-rates.js'
import { actor, ApiDate, BodyId, Limit, OPERATOR, OPERATOR_OR_AFFILIATE, ParamId, type ApiPlugin } from '../http.js'

const Window = z.object({ from: ApiDate.optional(), to: ApiDate.optional() })

const FindingsQuery = Window.extend({
  affiliateId: ParamId.optional(),
  reason: z.enum(FRAUD_REASONS).optional(),
  action: z.enum(FRAUD_ACTIONS).optional(),
  kind: z
    .string()
    .regex(/^[a-z_]{1,32}$/)
    .optional(),
  sub1: z.string().max(200).optional(),
  limit: Limit.optional(),
}).strict()

const ReviewBody = z
  .object({
    /** the players to decide on (from the queue), or one appeal's */
    items: z
      .array(z.object({ affiliateId: BodyId, playerKey: z.string().min(1).max(300), playerRef: z.string().max(100).default('') }).strict())
      .min(1)
      .max(500),
    decision: z.enum(['approve', 'reject']),
    note: z.string().trim().min(1, 'a decision needs a note the affiliate can read').max(500),
    /** the appeal this decision answers */
    appealId: z
      .string()
      .regex(/^[a-z0-9-]{1,40}$/)
      .optional(),
  })
  .strict()

const AppealBody = z
  .object({
    /** the finding's event (a click or a conversion of its own traffic) */
    eventId: z.string().min(1).max(200),
    message: z.string().trim().min(1, 'say why the finding is wrong').max(2000),
  })
  .strict()

const enc = new TextEncoder()
const dec = new TextDecoder()
const range = (q: z.infer<typeof Window>, defaultHours = 24) => {
  const to = q.to?.getTime() ?? Date.now()
  return { from: q.from?.getTime() ?? to - defaultHours * 3_600_000, to }
}
const iso = (t: string) => `${t.replace(' ', 'T')}Z`

type Worst = { affiliate_id: string; score: string; n: string; prev: string; reasons: string[] }
/** The worst by the sum of their findings' scores in [from, to), with the sum of the window
 *  before ([before, from)) for the trend, grouped by `keys`. */
const worstBy = (keys: string, where = '') =>
  `SELECT ${keys}, toString(s) AS score, toString(c) AS n, toString(p) AS prev, reasons FROM (
     SELECT ${keys}, sumIf(score, ts >= fromUnixTimestamp64Milli({from:Int64})) AS s,
            countIf(ts >= fromUnixTimestamp64Milli({from:Int64})) AS c,
            sumIf(score, ts < fromUnixTimestamp64Milli({from:Int64})) AS p,
            groupUniqArrayIf(reason, ts >= fromUnixTimestamp64Milli({from:Int64})) AS reasons
       FROM fraud_findings WHERE ts >= fromUnixTimestamp64Milli({before:Int64}) AND ts < fromUnixTimestamp64Milli({to:Int64}) AND shadow = 0 ${where}
      GROUP BY ${keys}) WHERE c > 0 ORDER BY s DESC LIMIT 20`

export const fraudRoutes: ApiPlugin = (app, d) => {
  const appeals = (): KV => {
    if (!d.appeals) throw new HttpError(503, 'unavailable', 'appeals are not reachable from this process')
    return d.appeals
  }

  const ownSettings = () =>
    Object.entries(d.store.fraud.affiliates()).flatMap(([id, versions]) => {
      const last = versions.at(-1)!
      return Object.keys(last.overrides).length === 0
        ? []
        : [{ affiliateId: Number(id), name: d.store.affiliates.get(Number(id))?.name ?? `#${id}`, overrides: last.overrides, from: new Date(last.from).toISOString(), by: last.by ?? null }]
    })

  app.get(
    '/api/fraud/settings',
    {
      config: { who: OPERATOR },
      schema: { summary: "The fraud rules' settings in force, every earlier version, and the affiliates with settings of their own" },
    },
    async () => {
      const versions = d.store.fraud.versions()
      return { settings: d.store.fraud.current(Date.now(), d.fraudBase), versions, defaults: d.fraudBase ?? null, affiliates: ownSettings() }
    },
  )

  app.put(
    '/api/fraud/settings',
    {
      config: { who: OPERATOR },
      schema: {
        summary:
          "Change the fraud rules' settings from now on (thresholds, rules in shadow mode): only the settings named change (`shadow`, when named, is the whole set of rules in shadow mode); a new version, never retroactive",
        body: FraudSettingsPatchSchema,
      },
    },
    async (req) => {
      const cur = d.store.fraud.current(Date.now(), d.fraudBase)
      const settings = await d.store.fraud.set({ ...cur, ...req.body }, Date.now(), actor(req.principal))
      return { settings }
    },
  )

  app.get(
    '/api/fraud/settings/affiliates/:affiliateId',
    {
      config: { who: OPERATOR },
      schema: {
        summary: "One affiliate's fraud settings: what it sets differently from the program, the settings its traffic is judged by now, and every version of its own",
        params: z.object({ affiliateId: ParamId }),
      },
    },
    async (req) => {
      const id = req.params.affiliateId
      if (!d.store.affiliates.get(id)) throw new HttpError(404, 'not_found', `no affiliate ${id}`)
      const versions = d.store.fraud.affiliates()[String(id)] ?? []
      return {
        affiliateId: id,
        overrides: versions.at(-1)?.overrides ?? {},
        effective: d.store.fraud.forAffiliate(id, Date.now(), d.fraudBase),
        versions: versions.map((v) => ({ ...v, from: new Date(v.from).toISOString() })),
      }
    },
  )

  app.put(
    '/api/fraud/settings/affiliates/:affiliateId',
    {
      config: { who: OPERATOR },
      schema: {
        summary:
          "Set one affiliate's own fraud settings from now on: the whole set it has differently from the program ({} removes them); the rules in shadow mode are merged rule by rule. A new version, never retroactive",
        params: z.object({ affiliateId: ParamId }),
        body: FraudSettingsPatchSchema,
      },
    },
    async (req) => {
      const id = req.params.affiliateId
      if (!d.store.affiliates.get(id)) throw new HttpError(404, 'not_found', `no affiliate ${id}`)
      const version = await d.store.fraud.setAffiliate(id, req.body, Date.now(), actor(req.principal))
      return { affiliateId: id, overrides: version.overrides, from: new Date(version.from).toISOString(), effective: d.store.fraud.forAffiliate(id, Date.now(), d.fraudBase) }
    },
  )

  app.get(
    '/api/fraud/findings',
    {
      config: { who: OPERATOR_OR_AFFILIATE },
      schema: {
        summary:
          "What the fraud rules found, newest first: the feed, and the drill-down behind every number of the fraud view. An affiliate sees its own, except a rule's in shadow mode (the fraud team's trial of it, acting on nothing)",
        querystring: FindingsQuery,
      },
    },
    async (req) => {
      const q = req.query
      const affiliateId = scopeAffiliate(req.principal, q.affiliateId)
      const { from, to } = range(q, 24 * 7)
      const limit = Math.min(q.limit ?? 200, 1000)
      const rows = await queryRows<Record<string, string>>(
        d.ch,
        `SELECT event_id, kind, toString(ts) AS at_text, affiliate_id, sub1, player_ref, click_id, reason, action, score, toString(shadow) AS shadow_text, evidence
           FROM fraud_findings
          WHERE ts >= fromUnixTimestamp64Milli({from:Int64}) AND ts < fromUnixTimestamp64Milli({to:Int64})
            ${affiliateId !== undefined ? 'AND affiliate_id = {aff:UInt32}' : ''}
            ${req.principal.kind === 'operator' ? '' : 'AND shadow = 0'}
            ${q.reason ? 'AND reason = {reason:String}' : ''} ${q.action ? 'AND action = {action:String}' : ''}
            ${q.kind ? 'AND kind = {kind:String}' : ''} ${q.sub1 !== undefined ? 'AND sub1 = {sub1:String}' : ''}
          ORDER BY ts DESC, stream_seq DESC, stream_idx DESC LIMIT {limit:UInt32}`,
        { from, to, aff: affiliateId ?? 0, reason: q.reason ?? '', action: q.action ?? '', kind: q.kind ?? '', sub1: q.sub1 ?? '', limit },
      )
      return {
        items: rows.map((r) => ({
          eventId: r.event_id,
          kind: r.kind,
          at: iso(r.at_text!),
          affiliateId: Number(r.affiliate_id),
          sub1: r.sub1,
          playerRef: r.player_ref,
          clickId: r.click_id,
          reason: r.reason,
          action: r.action,
          score: Number(r.score),
          shadow: r.shadow_text === '1',
          evidence: JSON.parse(r.evidence!) as Record<string, unknown>,
        })),
      }
    },
  )

  app.get(
    '/api/fraud/summary',
    {
      config: { who: OPERATOR },
      schema: {
        summary:
          'The fraud view: filtered clicks by reason, the worst affiliates and sub-ids by score (with the window before for a trend), findings per minute, and the affiliates and sub-ids whose conversion rate is far above their own',
        querystring: Window.extend({
          minutes: z.coerce
            .number()
            .int()
            .min(1)
            .max(60 * 24 * 31)
            .optional(),
        }).strict(),
      },
    },
    async (req) => {
      const minutes = req.query.minutes ?? 60
      const to = req.query.to?.getTime() ?? Date.now()
      const from = req.query.from?.getTime() ?? to - minutes * 60_000
      const before = from - (to - from)
      const p = { from, to, before }
      // the settings read once for every affiliate the rate anomalies judge
      const rules = d.store.fraud.rules(d.fraudBase)
      const [byReason, worst, subs, perMinute, clicks, anomalies] = await Promise.all([
        queryRows<{ reason: string; action: string; n: string }>(
          d.ch,
          `SELECT reason, action, toString(count()) AS n FROM fraud_findings
            WHERE ts >= fromUnixTimestamp64Milli({from:Int64}) AND ts < fromUnixTimestamp64Milli({to:Int64}) AND shadow = 0
            GROUP BY reason, action ORDER BY count() DESC`,
          p,
        ),
        queryRows<Worst>(d.ch, worstBy('affiliate_id'), p),
        queryRows<Worst & { sub1: string }>(d.ch, worstBy('affiliate_id, sub1', "AND sub1 != ''"), p),
        queryRows<{ minute: string; n: string }>(
          d.ch,
          `SELECT toString(toStartOfMinute(ts)) AS minute, toString(count()) AS n FROM fraud_findings
            WHERE ts >= fromUnixTimestamp64Milli({from:Int64}) AND ts < fromUnixTimestamp64Milli({to:Int64}) AND shadow = 0
            GROUP BY minute ORDER BY minute`,
          p,
        ),
        queryRows<{ counted: string; filtered: string }>(
          d.ch,
          `SELECT toString(countIf(status = 'valid')) AS counted, toString(countIf(status = 'filtered')) AS filtered FROM events
            WHERE kind = 'click' AND ts >= fromUnixTimestamp64Milli({from:Int64}) AND ts < fromUnixTimestamp64Milli({to:Int64})`,
          p,
        ),
        rateAnomalies(d.ch, to, (id) => fraudSettingsFor(rules, id, to)),
      ])
      const name = (id: string) => d.store.affiliates.get(Number(id))?.name ?? `#${id}`
      return {
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        clicks: { counted: Number(clicks[0]?.counted ?? 0), filtered: Number(clicks[0]?.filtered ?? 0) },
        byReason: byReason.map((r) => ({ reason: r.reason, action: r.action, findings: Number(r.n) })),
        worstAffiliates: worst.map((r) => ({
          affiliateId: Number(r.affiliate_id),
          name: name(r.affiliate_id),
          score: Number(r.score),
          findings: Number(r.n),
          previousScore: Number(r.prev),
          reasons: r.reasons,
        })),
        worstSubIds: subs.map((r) => ({
          affiliateId: Number(r.affiliate_id),
          name: name(r.affiliate_id),
          sub1: r.sub1,
          score: Number(r.score),
          findings: Number(r.n),
          previousScore: Number(r.prev),
          reasons: r.reasons,
        })),
        perMinute: perMinute.map((r) => ({ minute: iso(r.minute), findings: Number(r.n) })),
        /** affiliates, and sub-ids, whose conversion rate of the last 7 days is far above their own baseline (flag) */
        rateAnomalies: anomalies.affiliates.map((a) => ({ ...a, name: name(String(a.affiliateId)), reason: 'rate_anomaly', action: 'flag' })),
        subIdRateAnomalies: anomalies.subIds.map((a) => ({ ...a, name: name(String(a.affiliateId)), reason: 'rate_anomaly', action: 'flag' })),
      }
    },
  )

  app.get(
    '/api/fraud/ctit',
    {
      config: { who: OPERATOR },
      schema: {
        summary:
          "An affiliate's click-to-conversion times: registrations and first deposits by how long after their click they came (the shape click injection and click spamming leave)",
        querystring: Window.extend({ affiliateId: ParamId }).strict(),
      },
    },
    async (req) => {
      const { from, to } = range(req.query, 24 * 30)
      const buckets = [
        ['under 15 s', 0, 15],
        ['15–60 s', 15, 60],
        ['1–10 min', 60, 600],
        ['10–60 min', 600, 3600],
        ['1–24 h', 3600, 86_400],
        ['1–7 days', 86_400, 7 * 86_400],
        ['over 7 days', 7 * 86_400, 1e12],
      ] as const
      const rows = await queryRows<{ s: string; n: string }>(
        d.ch,
        `SELECT toString(b) AS s, toString(count()) AS n FROM (
           SELECT multiIf(${buckets.map(([, , hi], i) => `secs < ${hi}, ${i}`).join(', ')}, ${buckets.length - 1}) AS b
             FROM (SELECT dateDiff('second', c.ts, r.occurred_at) AS secs
                     FROM (SELECT click_id, occurred_at FROM events WHERE affiliate_id = {aff:UInt32} AND kind IN ('registration', 'ftd') AND status = 'attributed' AND click_id != ''
                             AND ts >= fromUnixTimestamp64Milli({from:Int64}) AND ts < fromUnixTimestamp64Milli({to:Int64})) AS r
                     INNER JOIN (SELECT event_id, ts FROM events WHERE affiliate_id = {aff:UInt32} AND kind = 'click') AS c ON c.event_id = r.click_id)
            WHERE secs >= 0)
          GROUP BY b ORDER BY b`,
        { aff: req.query.affiliateId, from, to },
      )
      const n = new Map(rows.map((r) => [Number(r.s), Number(r.n)]))
      return { affiliateId: req.query.affiliateId, buckets: buckets.map(([label], i) => ({ label, conversions: n.get(i) ?? 0 })) }
    },
  )

  app.get(
    '/api/fraud/queue',
    {
      config: { who: OPERATOR },
      schema: {
        summary: 'The review queue: players whose money the rules held or rejected, not yet decided, with the amounts and reasons; and the open appeals',
      },
    },
    async () => {
      const rows = await queryRows<{
        affiliate_id: string
        player_key: string
        player_ref: string
        status: string
        currency: string
        amount: string
        lines: string
        first: string
        reasons: string
      }>(
        d.ch,
        `SELECT t.affiliate_id AS affiliate_id, t.player_key AS player_key, any(t.player_ref) AS player_ref, t.status AS status, t.currency AS currency,
                toString(sum(t.amount)) AS amount, toString(count()) AS lines, toString(min(t.occurred_at)) AS first, any(t.reason) AS reasons
           FROM (SELECT * FROM ledger_lines FINAL WHERE status IN ('held', 'rejected') AND (startsWith(reason, 'Held for fraud review') OR startsWith(reason, 'Rejected as fraud'))) AS t
          WHERE t.line_id NOT IN (SELECT ref_line_id FROM ledger_lines WHERE kind = 'reversal' AND (startsWith(line_id, 'rel:') OR startsWith(line_id, 'rej:')))
            AND t.player_key != ''
          GROUP BY t.affiliate_id, t.player_key, t.status, t.currency ORDER BY first LIMIT 1000`,
      )
      const open: Appeal[] = []
      if (d.appeals)
        for await (const k of await d.appeals.keys()) {
          const e = await d.appeals.get(k)
          if (e?.operation === 'PUT') {
            const a = JSON.parse(dec.decode(e.value)) as Appeal
            if (a.status === 'open') open.push(a)
          }
        }
      return {
        items: rows.map((r) => ({
          affiliateId: Number(r.affiliate_id),
          affiliate: d.store.affiliates.get(Number(r.affiliate_id))?.name ?? `#${r.affiliate_id}`,
          playerKey: r.player_key,
          playerRef: r.player_ref,
          status: r.status,
          currency: r.currency,
          amount: canonicalAmount(r.amount),
          lines: Number(r.lines),
          since: iso(r.first),
          reasons: /\(([^)]*)\)/.exec(r.reasons)?.[1] ?? '',
        })),
        appeals: open.sort((a, b) => a.at - b.at),
      }
    },
  )

  app.post(
    '/api/fraud/reviews',
    {
      config: { who: OPERATOR },
      schema: {
        summary:
          'Decide on players in the review queue, one or many: approve releases their held money (paid by the next statement, once); reject never pays it and takes back what their traffic was paid',
        description:
          'Each decision enters the event stream and is applied by the commission engine in its place among the events (202); each is in the audit log with its note.',
        body: ReviewBody,
      },
    },
    async (req, reply) => {
      if (!d.publish) throw new HttpError(503, 'unavailable', 'the event stream is not connected')
      const b = req.body
      for (const it of b.items)
        if (!d.store.affiliates.get(it.affiliateId))
          throw new HttpError(400, 'invalid_request', `no affiliate ${it.affiliateId}`, { items: `no affiliate ${it.affiliateId}` })
      const at = Date.now()
      const by = actor(req.principal)
      const ids: string[] = []
      for (const it of b.items) {
        const id = `${at.toString(36)}-${randomBytes(5).toString('hex')}`
        const cmd = ReviewCommandSchema.parse({
          id,
          affiliateId: it.affiliateId,
          playerKey: it.playerKey,
          playerRef: it.playerRef,
          decision: b.decision,
          note: b.note,
          at,
          by,
        })
        await d.publish(REVIEW_SUBJECT, enc.encode(JSON.stringify(cmd)), `review:${id}`)
        await d.store.audit.append({
          entity: 'fraud_review',
          key: `${it.affiliateId}/${it.playerRef || 'player'}`,
          action: 'create',
          after: { decision: b.decision, review: id },
          by,
          note: b.note,
          at,
        })
        ids.push(id)
      }
      if (b.appealId) {
        const kv = appeals()
        const e = await kv.get(b.appealId)
        if (!e || e.operation !== 'PUT') throw new HttpError(404, 'not_found', `no appeal ${b.appealId}`)
        const a = JSON.parse(dec.decode(e.value)) as Appeal
        await kv.put(a.id, enc.encode(JSON.stringify({ ...a, status: 'answered', answer: { decision: b.decision, note: b.note, by, at } } satisfies Appeal)))
      }
      return reply.code(202).send({ reviews: ids, decision: b.decision, status: 'accepted' })
    },
  )

  app.get(
    '/api/fraud/appeals',
    {
      config: { who: OPERATOR_OR_AFFILIATE },
      schema: {
        summary: "Appeals against findings, with their answers: an affiliate's own; every one for the fraud team",
        querystring: z.object({ affiliateId: ParamId.optional() }).strict(),
      },
    },
    async (req) => {
      const aff = scopeAffiliate(req.principal, req.query.affiliateId)
      const kv = appeals()
      const out: Appeal[] = []
      for await (const k of await kv.keys()) {
        const e = await kv.get(k)
        if (e?.operation !== 'PUT') continue
        const a = JSON.parse(dec.decode(e.value)) as Appeal
        if (aff === undefined || a.affiliateId === aff) out.push(a)
      }
      return { items: out.sort((a, b) => b.at - a.at) }
    },
  )

  app.post(
    '/api/fraud/appeals',
    {
      config: { who: OPERATOR_OR_AFFILIATE },
      schema: {
        summary: 'An affiliate appeals a finding on its own traffic: it lands in the review queue, and the answer is shown back',
        body: AppealBody.extend({ affiliateId: BodyId.optional() }).strict(),
      },
    },
    async (req, reply) => {
      const aff = scopeAffiliate(req.principal, req.body.affiliateId)
      if (aff === undefined) throw new HttpError(400, 'invalid_request', 'affiliateId: whose finding is appealed', { affiliateId: 'required for an operator' })
      const [f] = await queryRows<{ reason: string; player_ref: string }>(
        d.ch,
        'SELECT reason, player_ref FROM fraud_findings WHERE affiliate_id = {aff:UInt32} AND event_id = {e:String} AND shadow = 0 ORDER BY score DESC LIMIT 1',
        { aff, e: req.body.eventId },
      )
      if (!f) throw new HttpError(404, 'not_found', `no finding on event ${req.body.eventId} of your traffic`)
      const id = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`
      const a: Appeal = {
        id,
        affiliateId: aff,
        eventId: req.body.eventId,
        reason: f.reason,
        playerRef: f.player_ref,
        message: req.body.message,
        at: Date.now(),
        status: 'open',
      }
      await appeals().put(id, enc.encode(JSON.stringify(a)))
      await d.store.audit.append({
        entity: 'fraud_review',
        key: `${aff}/appeal`,
        action: 'create',
        after: { appeal: id, eventId: a.eventId, reason: a.reason },
        by: actor(req.principal),
        note: a.message,
        at: a.at,
      })
      return reply.code(201).send(a)
    },
  )
}
