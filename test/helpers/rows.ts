import type { EventRow } from '../../processor/rows.js'

/** A click row for tests; override what the test is about. */
export function clickRow(over: Partial<EventRow> = {}): EventRow {
  return {
    event_id: 'e1',
    kind: 'click',
    ts: '2026-11-24 09:26:40.537',
    affiliate_id: 7,
    link_id: 3,
    offer_id: 0,
    source_id: 0,
    click_id: '',
    player_ref: '',
    amount: '0',
    currency: '',
    status: 'valid',
    reason: '',
    ip: '1.2.3.4',
    ua: 'UA',
    referer: '',
    sub1: '',
    sub2: '',
    sub3: '',
    sub4: '',
    sub5: '',
    params: {},
    details: {},
    stream_seq: 42,
    stream_idx: 1,
    country: '',
    device: '',
    os: '',
    browser: '',
    is_bot: 0,
    // a click happened when it was received
    occurred_at: over.ts ?? '2026-11-24 09:26:40.537',
    ...over,
  }
}
