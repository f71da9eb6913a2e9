/**
 * Payouts (docs/settlement.md): approved statements of a period become a batch per payment
 * method and currency, exported as CSV (and, for bank transfers in euro, as a SEPA credit
 * transfer file, pain.001.001.03); marking a batch paid moves its statements to paid and puts
 * a payment line for each in the affiliate's ledger (through the event stream, in its place).
 * A statement is in one batch at most.
 */
import { randomBytes } from 'node:crypto'
import { z } from 'zod'
import { insertFormatted, queryRows } from '../../clickhouse/client.js'
import { chTime } from '../../common/chtime.js'
import { ADJUST_SUBJECT, AdjustmentCommandSchema } from '../../common/close.js'
import { HttpError } from '../../common/errors.js'
import { D, roundMinor } from '../../common/money.js'
import { maskedPayment, PAYMENT_METHODS, type PaymentDetails } from '../../common/payment.js'
import { PeriodSchema } from '../../common/periods.js'
import { esc } from '../invoice.js'
import { actor, OPERATOR, type ApiPlugin } from '../http.js'
import { isCasConflict } from '../../common/entities/kv.js'

const Period = PeriodSchema
const Create = z.object({ period: Period, method: z.enum(PAYMENT_METHODS), currency: z.string().regex(/^[A-Z]{3}$/, 'must be a currency code such as EUR') }).strict()
const BatchId = z.object({ id: z.string().regex(/^pb-[0-9a-z-]{6,40}$/, 'must be a payout batch id such as pb-…') })
const List = z.object({ period: Period.optional() }).strict()

type Item = { affiliate_id: string; period: string; currency: string; amount: string; details: string }

const csvField = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s)
const fixed = (a: string, c: string) => roundMinor(a, c)
/** a claim with no batch after this long was left by a try that died */
const ORPHAN_CLAIM_MS = 10 * 60_000

export const payoutRoutes: ApiPlugin = (app, d) => {
  /** Claim a statement for a batch; false when another batch has it. A claim whose batch was
   *  never written (the try that made it died first) is taken over once it is old enough that
   *  no try can still be writing it. */
  async function claim(kv: NonNullable<typeof d.payoutClaims>, key: string, id: string, now: number): Promise<boolean> {
    const value = new TextEncoder().encode(JSON.stringify({ id, at: now }))
    try {
      await kv.create(key, value)
      return true
    } catch (err) {
      if (!isCasConflict(err)) throw err
    }
    const cur = await kv.get(key)
    if (!cur || cur.operation !== 'PUT') return false
    const held = JSON.parse(cur.string()) as { id: string; at: number }
    if (now - held.at < ORPHAN_CLAIM_MS) return false
    const [have] = await queryRows<{ n: string }>(d.ch, 'SELECT toString(count()) AS n FROM payout_batches WHERE id = {id:String}', { id: held.id })
    if (Number(have?.n ?? 0) > 0) return false
    try {
      await kv.update(key, value, cur.revision)
      return true
    } catch (err) {
      if (isCasConflict(err)) return false
      throw err
    }
  }

  async function batch(id: string) {
    const [b] = await queryRows<{ id: string; period: string; method: string; currency: string; created_at: string; created_by: string; items: string; total: string; status: string; paid_at: string }>(
      d.ch,
      `SELECT b.id AS id, b.period AS period, b.method AS method, b.currency AS currency, toString(b.created_at) AS created_at, b.created_by AS created_by,
              toString(b.items) AS items, toString(b.total) AS total,
              (SELECT argMax(s.status, s.at) FROM payout_status AS s WHERE s.batch_id = b.id) AS status,
              (SELECT toString(max(s.at)) FROM payout_status AS s WHERE s.batch_id = b.id AND s.status = 'paid') AS paid_at
       FROM payout_batches AS b FINAL WHERE b.id = {id:String}`,
      { id },
    )
    if (!b) throw new HttpError(404, 'not_found', `no payout batch ${id}`)
    const items = await queryRows<Item>(
      d.ch,
      `SELECT toString(i.affiliate_id) AS affiliate_id, i.period AS period, i.currency AS currency, toString(i.amount) AS amount, i.details AS details
       FROM payout_items AS i FINAL WHERE i.batch_id = {id:String} ORDER BY i.affiliate_id`,
      { id },
    )
    return { b, items }
  }
  const view = (b: Awaited<ReturnType<typeof batch>>['b'], items: Item[]) => ({
    id: b.id,
    period: b.period,
    method: b.method,
    currency: b.currency,
    createdAt: `${b.created_at.replace(' ', 'T')}Z`,
    createdBy: b.created_by,
    status: b.status || 'created',
    ...(b.status === 'paid' ? { paidAt: `${b.paid_at.replace(' ', 'T')}Z` } : {}),
    total: fixed(b.total, b.currency),
    items: items.map((i) => ({
      affiliateId: Number(i.affiliate_id),
      name: d.store.affiliates.get(Number(i.affiliate_id))?.name ?? `#${i.affiliate_id}`,
      amount: fixed(i.amount, i.currency),
      payee: maskedPayment(JSON.parse(i.details) as PaymentDetails),
    })),
  })

  app.post(
    '/api/payouts',
    { config: { who: OPERATOR }, schema: { summary: "A payout batch: a period's approved statements paid by one method in one currency (each statement in one batch at most)", body: Create } },
    async (req, reply) => {
      const { period, method, currency } = req.body
      // approved statements of the period with something to pay in the currency, not in a batch yet
      const rows = await queryRows<{ a: string; payable: string }>(
        d.ch,
        `SELECT toString(t.affiliate_id) AS a, toString(t.payable) AS payable FROM statement_totals AS t FINAL
         WHERE t.period = {p:String} AND t.currency = {c:String} AND t.payable > 0
           AND t.affiliate_id IN (SELECT affiliate_id FROM statement_status FINAL WHERE period = {p:String} GROUP BY affiliate_id HAVING argMax(status, at) = 'approved')
           AND t.affiliate_id NOT IN (SELECT affiliate_id FROM payout_items FINAL WHERE period = {p:String} AND currency = {c:String})
         ORDER BY t.affiliate_id`,
        { p: period, c: currency },
      )
      const skipped: { affiliateId: number; reason: string }[] = []
      const items: { affiliate_id: number; amount: string; details: PaymentDetails }[] = []
      const now = Date.now()
      const id = `pb-${now.toString(36)}-${randomBytes(4).toString('hex')}`
      for (const r of rows) {
        const a = d.store.affiliates.get(Number(r.a))
        if (!a?.payment) skipped.push({ affiliateId: Number(r.a), reason: 'no payment details' })
        else if (a.payment.method === method) {
          // claimed for this batch by compare-and-set: two batches made at once never share a statement
          if (d.payoutClaims && !(await claim(d.payoutClaims, `${period}.${currency}.${a.id}`, id, now))) {
            skipped.push({ affiliateId: a.id, reason: 'in another payout batch' })
            continue
          }
          items.push({ affiliate_id: a.id, amount: r.payable, details: a.payment })
        }
      }
      if (items.length === 0)
        throw new HttpError(409, 'conflict', `nothing to pay by ${method} in ${currency} for ${period}: no approved statement with a payable total, payment details for ${method}, and no batch yet${skipped.length ? ` (${skipped.length} left out: ${[...new Set(skipped.map((s) => s.reason))].join(', ')})` : ''}`)
      const total = items.reduce((t, i) => t.plus(i.amount), new D(0))
      const by = actor(req.principal)
      await insertFormatted(d.ch, {
        table: 'payout_items',
        format: 'JSONEachRow',
        body: items.map((i) => JSON.stringify({ batch_id: id, affiliate_id: i.affiliate_id, period, currency, amount: i.amount, details: JSON.stringify(i.details) })).join('\n') + '\n',
        token: `${id}:items`,
      })
      await insertFormatted(d.ch, {
        table: 'payout_batches',
        format: 'JSONEachRow',
        body: JSON.stringify({ id, period, method, currency, created_at: chTime(now), created_by: by, items: items.length, total: total.toFixed() }) + '\n',
        token: `${id}:batch`,
      })
      await d.store.audit.append({ entity: 'statement', key: `payout/${id}`, action: 'create', after: { period, method, currency, items: items.length, total: total.toFixed() }, by, at: now })
      const { b, items: stored } = await batch(id)
      return reply.code(201).send({ ...view(b, stored), skipped })
    },
  )

  app.get('/api/payouts', { config: { who: OPERATOR }, schema: { summary: 'Payout batches, newest first', querystring: List } }, async (req) => {
    const ids = await queryRows<{ id: string }>(
      d.ch,
      `SELECT b.id AS id FROM payout_batches AS b FINAL ${req.query.period ? 'WHERE b.period = {p:String}' : ''} ORDER BY b.created_at DESC LIMIT 500`,
      { p: req.query.period ?? '' },
    )
    const out = []
    for (const { id } of ids) {
      const { b, items } = await batch(id)
      out.push(view(b, items))
    }
    return { items: out }
  })

  app.get('/api/payouts/:id/csv', { config: { who: OPERATOR }, schema: { summary: "A payout batch as CSV: one row per affiliate, its amount and payment details", params: BatchId } }, async (req, reply) => {
    const { b, items } = await batch(req.params.id)
    const head = ['affiliate_id', 'name', 'period', 'amount', 'currency', 'method', 'holder_or_provider', 'iban_or_account_or_address', 'bic_or_network', 'reference']
    const rows = items.map((i) => {
      const p = JSON.parse(i.details) as PaymentDetails
      const [who, where, extra] = p.method === 'bank' ? [p.holder, p.iban, p.bic ?? ''] : p.method === 'ewallet' ? [p.provider, p.account, ''] : ['', p.address, p.network]
      const name = d.store.affiliates.get(Number(i.affiliate_id))?.name ?? ''
      return [i.affiliate_id, name, i.period, fixed(i.amount, i.currency), i.currency, p.method, who, where, extra, `${i.affiliate_id}/${i.period}`].map(csvField).join(',')
    })
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="${b.id}.csv"`)
      .send([head.join(','), ...rows].join('\r\n') + '\r\n')
  })

  app.get(
    '/api/payouts/:id/sepa',
    { config: { who: OPERATOR }, schema: { summary: 'A bank-transfer batch in euro as a SEPA credit transfer file (pain.001.001.03), for the bank the program pays from', params: BatchId } },
    async (req, reply) => {
      const { b, items } = await batch(req.params.id)
      if (b.method !== 'bank' || b.currency !== 'EUR') throw new HttpError(409, 'conflict', `a SEPA credit transfer is for bank transfers in EUR; this batch is ${b.method} in ${b.currency} (its CSV is at /api/payouts/${b.id}/csv)`)
      const payer = d.invoices?.payer
      if (!payer?.iban) throw new HttpError(409, 'conflict', 'set PAYER_IBAN (and PAYER_BIC, PAYER_NAME) to the account payouts are paid from')
      const now = new Date()
      const total = items.reduce((t, i) => t.plus(i.amount), new D(0)).toFixed(2)
      const txs = items
        .map((i) => {
          const p = JSON.parse(i.details) as Extract<PaymentDetails, { method: 'bank' }>
          const ref = `${i.affiliate_id}/${i.period}`
          return `      <CdtTrfTxInf>
        <PmtId><EndToEndId>${esc(`${b.id}-${i.affiliate_id}`.slice(0, 35))}</EndToEndId></PmtId>
        <Amt><InstdAmt Ccy="EUR">${new D(i.amount).toFixed(2)}</InstdAmt></Amt>
${p.bic ? `        <CdtrAgt><FinInstnId><BIC>${esc(p.bic)}</BIC></FinInstnId></CdtrAgt>\n` : ''}        <Cdtr><Nm>${esc(p.holder.slice(0, 70))}</Nm></Cdtr>
        <CdtrAcct><Id><IBAN>${esc(p.iban)}</IBAN></Id></CdtrAcct>
        <RmtInf><Ustrd>${esc(`Commission ${ref}`.slice(0, 140))}</Ustrd></RmtInf>
      </CdtTrfTxInf>`
        })
        .join('\n')
      const xml = `<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <CstmrCdtTrfInitn>
    <GrpHdr>
      <MsgId>${esc(b.id.slice(0, 35))}</MsgId>
      <CreDtTm>${now.toISOString().slice(0, 19)}</CreDtTm>
      <NbOfTxs>${items.length}</NbOfTxs>
      <CtrlSum>${total}</CtrlSum>
      <InitgPty><Nm>${esc(payer.name.slice(0, 70))}</Nm></InitgPty>
    </GrpHdr>
    <PmtInf>
      <PmtInfId>${esc(b.id.slice(0, 35))}</PmtInfId>
      <PmtMtd>TRF</PmtMtd>
      <NbOfTxs>${items.length}</NbOfTxs>
      <CtrlSum>${total}</CtrlSum>
      <PmtTpInf><SvcLvl><Cd>SEPA</Cd></SvcLvl></PmtTpInf>
      <ReqdExctnDt>${now.toISOString().slice(0, 10)}</ReqdExctnDt>
      <Dbtr><Nm>${esc(payer.name.slice(0, 70))}</Nm></Dbtr>
      <DbtrAcct><Id><IBAN>${esc(payer.iban)}</IBAN></Id></DbtrAcct>
      <DbtrAgt><FinInstnId>${payer.bic ? `<BIC>${esc(payer.bic)}</BIC>` : '<Othr><Id>NOTPROVIDED</Id></Othr>'}</FinInstnId></DbtrAgt>
      <ChrgBr>SLEV</ChrgBr>
${txs}
    </PmtInf>
  </CstmrCdtTrfInitn>
</Document>
`
      return reply.type('application/xml; charset=utf-8').header('content-disposition', `attachment; filename="${b.id}.xml"`).send(xml)
    },
  )

  app.post(
    '/api/payouts/:id/paid',
    { config: { who: OPERATOR }, schema: { summary: 'Mark a payout batch paid: its statements become paid, and each affiliate’s ledger gets a payment line', params: BatchId } },
    async (req) => {
      if (!d.publish) throw new HttpError(503, 'unavailable', 'the event stream is not connected')
      const { b, items } = await batch(req.params.id)
      if (b.status === 'paid') throw new HttpError(409, 'conflict', `payout batch ${b.id} was marked paid already`)
      // every statement still approved: one held after the batch was made is not paid with it
      const now_ = await queryRows<{ a: string; status: string }>(
        d.ch,
        `SELECT toString(affiliate_id) AS a, argMax(status, at) AS status FROM statement_status FINAL WHERE period = {p:String} AND affiliate_id IN {ids:Array(UInt32)} GROUP BY affiliate_id`,
        { p: b.period, ids: items.map((i) => Number(i.affiliate_id)) },
      )
      const notApproved = now_.filter((r) => r.status !== 'approved')
      if (notApproved.length > 0)
        throw new HttpError(409, 'conflict', `not paid: ${notApproved.map((r) => `affiliate ${r.a}'s statement is ${r.status}`).join('; ')}; approve it, or make a new batch without it`)
      const now = Date.now()
      const by = actor(req.principal)
      // the payment lines, through the event stream, each once: a try cut short and made again
      // skips those already in the ledger (and the stream drops a repeat within its window)
      const written = new Set(
        (
          await queryRows<{ id: string }>(d.ch, 'SELECT DISTINCT line_id AS id FROM ledger_lines WHERE affiliate_id IN {ids:Array(UInt32)} AND line_id IN {lines:Array(String)}', {
            ids: items.map((i) => Number(i.affiliate_id)),
            lines: items.map((i) => `pay:${b.id}-${i.affiliate_id}`),
          })
        ).map((r) => r.id),
      )
      for (const i of items) {
        if (written.has(`pay:${b.id}-${i.affiliate_id}`)) continue
        const p = JSON.parse(i.details) as PaymentDetails
        const cmd = AdjustmentCommandSchema.parse({
          id: `${b.id}-${i.affiliate_id}`,
          affiliateId: Number(i.affiliate_id),
          amount: new D(i.amount).negated().toFixed(),
          currency: i.currency,
          reason: `statement ${i.period}, payout batch ${b.id}, ${maskedPayment(p)}`,
          at: now,
          by,
          kind: 'payment',
        })
        await d.publish(ADJUST_SUBJECT, new TextEncoder().encode(JSON.stringify(cmd)), `pay:${cmd.id}`)
      }
      const statusRows = items.map((i) => JSON.stringify({ affiliate_id: Number(i.affiliate_id), period: i.period, status: 'paid', by, at: chTime(now), note: `payout batch ${b.id}` })).join('\n') + '\n'
      await insertFormatted(d.ch, { table: 'statement_status', format: 'JSONEachRow', body: statusRows, token: `${b.id}:paid:statements` })
      await insertFormatted(d.ch, { table: 'payout_status', format: 'JSONEachRow', body: JSON.stringify({ batch_id: b.id, status: 'paid', at: chTime(now), by }) + '\n', token: `${b.id}:paid` })
      await d.store.audit.append({ entity: 'statement', key: `payout/${b.id}`, action: 'update', before: { status: b.status || 'created' }, after: { status: 'paid' }, by, at: now })
      const again = await batch(b.id)
      return view(again.b, again.items)
    },
  )
}
