/**
 * The ready postback URLs the dashboard shows for a source: in the platform's own parameter
 * and event names, with a placeholder per value, and accepted as they are by the ingest's
 * mapping (applyMapping turns them back into our fields).
 */
import { describe, expect, it } from 'vitest'
import { POSTBACK_FIELDS } from '../common/events.js'
import { CONVERSION_KINDS } from '../common/vocabulary.js'
import { applyMapping } from '../ingest/postbacks.js'
import { curlExample, KIND_FIELDS, MAPPABLE_FIELDS, readyUrl, type SourceMapping } from '../dashboard/src/lib/postbackUrls.js'

const plain: SourceMapping = { id: 3, auth: 'token', fieldMap: {}, eventMap: {} }
const mapped: SourceMapping = { id: 4, auth: 'token', fieldMap: { player_id: 'userid', event: 'type', event_id: 'txn' }, eventMap: { signup: 'registration', first_dep: 'ftd' } }

describe('ready postback URLs', () => {
  it('knows every postback field and every kind', () => {
    expect([...MAPPABLE_FIELDS].sort()).toEqual([...POSTBACK_FIELDS].sort())
    expect(Object.keys(KIND_FIELDS).sort()).toEqual([...CONVERSION_KINDS].sort())
  })

  it.each<[string, SourceMapping, (typeof CONVERSION_KINDS)[number], string]>([
    ['our names', plain, 'registration', 'https://t.example/postback?source=3&token=YOUR_TOKEN&event=registration&event_id={event_id}&player_id={player_id}&click_id={click_id}'],
    ['our names', plain, 'ftd', 'https://t.example/postback?source=3&token=YOUR_TOKEN&event=ftd&event_id={event_id}&player_id={player_id}&amount={amount}&currency={currency}&click_id={click_id}'],
    ['mapped', mapped, 'registration', 'https://t.example/postback?source=4&token=YOUR_TOKEN&type=signup&txn={event_id}&userid={player_id}&click_id={click_id}'],
    ['mapped, a kind without an event name', mapped, 'deposit', 'https://t.example/postback?source=4&token=YOUR_TOKEN&type=deposit&txn={event_id}&userid={player_id}&amount={amount}&currency={currency}'],
    ['hmac: no token', { ...plain, auth: 'hmac' }, 'challenge_funded', 'https://t.example/postback?source=3&event=challenge_funded&event_id={event_id}&player_id={player_id}&challenge_id={challenge_id}&plan={plan}'],
  ])('%s: %s', (_, s, kind, want) => {
    expect(readyUrl('https://t.example', s, kind)).toBe(want)
  })

  it('a filled-in ready URL maps back to our fields', () => {
    for (const kind of CONVERSION_KINDS) {
      const u = new URL(readyUrl('https://t.example', mapped, kind).replace(/\{(\w+)\}/g, 'v-$1'))
      const ours = applyMapping(Object.fromEntries(u.searchParams), { fieldMap: mapped.fieldMap as never, eventMap: mapped.eventMap as never })
      expect(ours.event).toBe(kind)
      expect(ours.event_id).toBe('v-event_id')
      for (const f of KIND_FIELDS[kind]) expect(ours[f], `${kind}.${f}`).toBe(`v-${f}`)
    }
  })

  it('the curl example of a token source is one GET with sample values; of an HMAC source a signed POST', () => {
    expect(curlExample('https://t.example', mapped, 'ftd', 'tok')).toBe(
      'curl "https://t.example/postback?source=4&token=tok&type=first_dep&txn=test-1001&userid=test-player-1&amount=50.00&currency=EUR"',
    )
    const h = curlExample('https://t.example', { ...plain, auth: 'hmac' }, 'deposit')
    expect(h).toContain(`body='{"source":3,"event":"deposit","event_id":"test-1001","player_id":"test-player-1","amount":"50.00","currency":"EUR"}'`)
    expect(h).toContain('openssl dgst -sha256 -hmac "$HMAC_SECRET"')
    expect(h).toContain('-H "x-signature: $sig"')
  })
})
