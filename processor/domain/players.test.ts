import { describe, expect, it } from 'vitest'
import { ClickIdSigner } from '../../common/clickid.js'
import type { ConversionEvent, ReassignEvent } from '../../common/events.js'
import { after, applyConversion, applyReassign, MAX_PARKED, SEEN_IDS, seenToken, type ConversionContext, type ConversionOutcome, type PlayerState, type Pos } from './players.js'

const DAY = 86_400_000
const WINDOW = 30 * DAY
const T0 = 1_750_000_000_000
const CHANGE = T0 + 10 * DAY // deal version 2 starts here

const signer = new ClickIdSigner('players-test-click-secret-000')
const forger = new ClickIdSigner('players-test-OTHER-secret-000')

const click = (affiliateId: number, ts = T0 - 60_000, linkId = 100 + affiliateId, offerId = 1) => signer.issue({ ts, linkId, affiliateId, offerId })


const ctx: ConversionContext = {
  verify: (id) => signer.verify(id),
  windowMs: WINDOW,
  playerRef: 'ref-alice',
}

let n = 0
function reg(opts: { clickId?: string; ts?: number; playerId?: string } = {}): ConversionEvent {
  const eventId = `reg-${++n}`
  return {
    kind: 'registration',
    id: `1:${eventId}`,
    sourceId: 1,
    eventId,
    ts: opts.ts ?? T0,
    playerId: opts.playerId ?? 'alice',
    ...(opts.clickId !== undefined ? { clickId: opts.clickId } : {}),
  }
}
function ftd(opts: { clickId?: string; ts?: number; playerId?: string | null; amount?: string } = {}): ConversionEvent {
  const eventId = `ftd-${++n}`
  return {
    kind: 'ftd',
    id: `1:${eventId}`,
    sourceId: 1,
    eventId,
    ts: opts.ts ?? T0 + DAY,
    ...(opts.playerId === null ? {} : { playerId: opts.playerId ?? 'alice' }),
    ...(opts.clickId !== undefined ? { clickId: opts.clickId } : {}),
    amount: opts.amount ?? '50',
    currency: 'EUR',
  }
}

type Applied = Exclude<ConversionOutcome, { status: 'already_applied' }>
function applied(o: ConversionOutcome): Applied {
  if (o.status === 'already_applied') throw new Error('unexpectedly already_applied')
  return o
}

/** Apply events in order at positions [1,0], [2,0], … and return every outcome. */
function run(events: ConversionEvent[], c: ConversionContext = ctx): Applied[] {
  let state: PlayerState | undefined
  return events.map((e, i) => {
    const o = applied(applyConversion(e, [i + 1, 0], state, c))
    state = o.next ?? state
    return o
  })
}

describe('after', () => {
  it.each<[Pos, Pos, boolean]>([
    [[2, 0], [1, 0], true],
    [[1, 1], [1, 0], true],
    [[1, 0], [1, 0], false],
    [[1, 0], [1, 1], false],
    [[1, 9], [2, 0], false],
    [[3, 0], [2, 99], true],
  ])('%j after %j is %s', (a, b, want) => {
    expect(after(a, b)).toBe(want)
  })
})

describe('applyConversion: registration', () => {
  it('with a valid click: attributed and binds the player to the click', () => {
    const c = click(7)
    const e = reg({ clickId: c })
    const o = applied(applyConversion(e, [10, 2], undefined, ctx))
    expect(o).toEqual({
      status: 'attributed',
      reason: 'registered',
      affiliateId: 7,
      linkId: 107,
      offerId: 1,
      clickId: c,
      next: { pos: [10, 2], affiliateId: 7, linkId: 107, offerId: 1, clickId: c, clickTs: T0 - 60_000, boundAt: T0, registeredAt: T0 },
    })
    expect(o.reason).not.toBe('first_deposit')
  })

  it('a second registration is a duplicate and keeps the first binding (first touch)', () => {
    const first = click(7)
    const second = click(8)
    const [a, b] = run([reg({ clickId: first }), reg({ clickId: second, ts: T0 + 1_000 })])
    expect(a!.status).toBe('attributed')
    expect(b).toMatchObject({ status: 'duplicate', reason: 'player_already_registered', affiliateId: 7, clickId: first })
    expect(b!.next).toEqual({ ...a!.next, pos: [2, 0] })
    expect(b!.reason).not.toBe('first_deposit')
  })

  it.each<[string, string | undefined, string]>([
    ['no click id', undefined, 'no_click_id'],
    ['a malformed click id', 'not-a-click-id', 'malformed_click_id'],
    ['a forged click (other secret)', forger.issue({ ts: T0 - 60_000, linkId: 1, affiliateId: 7, offerId: 1 }), 'bad_signature'],
    ['an expired click', click(7, T0 - WINDOW - 1), 'click_expired'],
    ['a click from the future', click(7, T0 + 10 * 60_000), 'click_in_future'],
  ])('with %s: unattributed, bound to affiliate 0 with the reason', (_name, clickId, reason) => {
    const o = applied(applyConversion(reg({ clickId }), [1, 0], undefined, ctx))
    expect(o).toMatchObject({ status: 'unattributed', reason, affiliateId: 0, linkId: 0, offerId: 0, clickId: '' })
    expect(o.next).toEqual({ pos: [1, 0], affiliateId: 0, linkId: 0, offerId: 0, reason, boundAt: T0, registeredAt: T0 })
  })

  it('a registration with a click exactly at the window edge is attributed', () => {
    const o = applied(applyConversion(reg({ clickId: click(7, T0 - WINDOW) }), [1, 0], undefined, ctx))
    expect(o.status).toBe('attributed')
  })

  it('a forged registration binds the player to affiliate 0 for life', () => {
    const forged = forger.issue({ ts: T0 - 60_000, linkId: 1, affiliateId: 7, offerId: 1 })
    const [r1, r2, f1] = run([reg({ clickId: forged }), reg({ clickId: click(7) }), ftd()])
    expect(r1).toMatchObject({ status: 'unattributed', reason: 'bad_signature', affiliateId: 0 })
    // a later genuine click does not re-bind the player
    expect(r2).toMatchObject({ status: 'duplicate', reason: 'player_already_registered', affiliateId: 0 })
    expect(f1).toMatchObject({ status: 'unattributed', reason: 'player_unattributed', affiliateId: 0 })
    expect(f1!.reason).not.toBe('first_deposit')
    expect(f1!.next!.affiliateId).toBe(0)
    expect(f1!.next!.ftdEventId).toBeDefined()
  })
})

describe('applyConversion: FTD', () => {
  it('through the binding: attributed, its commission left to the commission engine', () => {
    const c = click(7)
    const r = reg({ clickId: c })
    const f = ftd({ ts: T0 + DAY })
    const s1 = applied(applyConversion(r, [5, 0], undefined, ctx)).next
    const o = applied(applyConversion(f, [6, 3], s1, ctx))
    expect(o).toMatchObject({ status: 'attributed', reason: 'first_deposit', affiliateId: 7, linkId: 107, offerId: 1, clickId: c })
    expect(o.next).toEqual({ ...s1, pos: [6, 3], ftdAt: T0 + DAY, ftdEventId: f.id })
  })

  it('uses the binding for life: an FTD long after the attribution window still earns', () => {
    const [, f] = run([reg({ clickId: click(8) }), ftd({ ts: T0 + 365 * DAY })])
    expect(f).toMatchObject({ status: 'attributed', reason: 'first_deposit', affiliateId: 8 })
    expect(f!.reason).toBe('first_deposit')
  })



  it('a second FTD is a duplicate and pays nothing', () => {
    const [, f1, f2] = run([reg({ clickId: click(7) }), ftd(), ftd({ ts: T0 + 2 * DAY, amount: '500' })])
    expect(f1!.reason).toBe('first_deposit')
    expect(f2).toMatchObject({ status: 'duplicate', reason: 'ftd_already_recorded', affiliateId: 7 })
    expect(f2!.reason).not.toBe('first_deposit')
    expect(f2!.next).toEqual({ ...f1!.next, pos: [3, 0] })
  })



  it('cookieless: no registration, but the FTD brings a valid click id → attributed + CPA', () => {
    const c = click(7, T0)
    const f = ftd({ clickId: c, ts: T0 + DAY, playerId: null })
    const o = applied(applyConversion(f, [4, 0], undefined, ctx))
    expect(o).toMatchObject({ status: 'attributed', reason: 'first_deposit', affiliateId: 7, linkId: 107, clickId: c })
    expect(o.reason).toBe('first_deposit')
    expect(o.next).toMatchObject({ affiliateId: 7, clickId: c, clickTs: T0, boundAt: T0 + DAY, ftdAt: T0 + DAY, ftdEventId: f.id })
    expect(o.next!.registeredAt).toBeUndefined()
  })

  it('cookieless FTD first, registration later with another click: the FTD binding stands (first touch)', () => {
    const [f, r] = run([ftd({ clickId: click(7, T0) }), reg({ clickId: click(8, T0 + DAY), ts: T0 + 2 * DAY })])
    expect(f).toMatchObject({ status: 'attributed', affiliateId: 7 })
    expect(r).toMatchObject({ status: 'attributed', reason: 'registered', affiliateId: 7 })
    expect(r!.next!.registeredAt).toBe(T0 + 2 * DAY)
    expect(r!.reason).not.toBe('first_deposit')
  })

  it.each<[string, string, string]>([
    ['forged', forger.issue({ ts: T0, linkId: 1, affiliateId: 7, offerId: 1 }), 'bad_signature'],
    ['expired', click(7, T0 + DAY - WINDOW - 1), 'click_expired'],
    ['malformed', 'garbage', 'malformed_click_id'],
  ])('cookieless with a %s click: unattributed with that reason', (_name, clickId, reason) => {
    const o = applied(applyConversion(ftd({ clickId }), [1, 0], undefined, ctx))
    expect(o).toMatchObject({ status: 'unattributed', reason, affiliateId: 0 })
    expect(o.reason).not.toBe('first_deposit')
  })

  it('with neither a registration nor a click id: parked until the registration', () => {
    const f = ftd()
    const o = applied(applyConversion(f, [1, 0], undefined, ctx))
    expect(o).toMatchObject({ status: 'parked', reason: 'awaiting_registration', affiliateId: 0, clickId: '' })
    expect(o.reason).not.toBe('first_deposit')
    expect(o.next).toEqual({ pos: [1, 0], affiliateId: 0, linkId: 0, offerId: 0, clickId: '', parked: [{ ev: f, pos: [1, 0] }] })
  })

})

describe('applyConversion: redelivery', () => {
  it.each<[string, Pos]>([
    ['the same position', [5, 1]],
    ['an earlier index in the same message', [5, 0]],
    ['an earlier message', [4, 9]],
  ])('an event at %s is already_applied', (_name, pos) => {
    const prior = applied(applyConversion(reg({ clickId: click(7) }), [5, 1], undefined, ctx)).next
    expect(applyConversion(ftd(), pos, prior, ctx)).toEqual({ status: 'already_applied' })
    expect(applyConversion(reg(), pos, prior, ctx)).toEqual({ status: 'already_applied' })
  })

  it('a later index in the same message applies', () => {
    const prior = applied(applyConversion(reg({ clickId: click(7) }), [5, 1], undefined, ctx)).next
    expect(applyConversion(ftd(), [5, 2], prior, ctx).status).toBe('attributed')
  })

  it('replaying an FTD after its state was saved pays nothing twice', () => {
    const s1 = applied(applyConversion(reg({ clickId: click(7) }), [1, 0], undefined, ctx)).next
    const f = ftd()
    const o1 = applied(applyConversion(f, [2, 0], s1, ctx))
    expect(o1.reason).toBe('first_deposit')
    expect(applyConversion(f, [2, 0], o1.next, ctx)).toEqual({ status: 'already_applied' })
    // the same FTD redelivered at a later stream position (e.g. re-published) is a duplicate
    const o3 = applied(applyConversion(f, [3, 0], o1.next, ctx))
    expect(o3.status).toBe('duplicate')
    expect(o3.reason).not.toBe('first_deposit')
  })

  it('does not mutate the prior state', () => {
    const prior = applied(applyConversion(reg({ clickId: click(7) }), [1, 0], undefined, ctx)).next
    const snapshot = structuredClone(prior)
    applyConversion(ftd(), [2, 0], prior, ctx)
    applyConversion(reg(), [3, 0], prior, ctx)
    expect(prior).toEqual(snapshot)
  })
})

describe('later events (deposit, withdrawal, activity, trade, challenges, reversals): attributed through the binding', () => {
  const later = (kind: ConversionEvent['kind'], opts: { ts?: number; playerId?: string; clickId?: string } = {}): ConversionEvent => {
    const eventId = `${kind}-${++n}`
    return {
      kind,
      id: `1:${eventId}`,
      sourceId: 1,
      eventId,
      ts: opts.ts ?? T0 + 2 * DAY,
      playerId: opts.playerId ?? 'alice',
      ...(opts.clickId ? { clickId: opts.clickId } : {}),
      amount: '10',
      currency: 'EUR',
    }
  }
  const KINDS = ['deposit', 'withdrawal', 'activity', 'trade', 'challenge_purchase', 'challenge_reset', 'challenge_refund', 'challenge_funded', 'chargeback', 'refund'] as const

  it.each(KINDS)('%s of a registered player goes to the affiliate that bound them, and pays no CPA', (kind) => {
    const [, , e] = run([reg({ clickId: click(7) }), ftd(), later(kind)])
    expect(e).toMatchObject({ status: 'attributed', reason: 'bound_player', affiliateId: 7, linkId: 107, offerId: 1 })
    expect(e!.reason).not.toBe('first_deposit')
    expect(e!.next).toMatchObject({ affiliateId: 7, pos: [3, 0] })
  })

  it.each(KINDS)('%s of a player nobody has seen is parked, binds no one, and is applied when the registration comes', (kind) => {
    const [e, r] = run([later(kind), reg({ clickId: click(8), ts: T0 + 3 * DAY })])
    expect(e).toMatchObject({ status: 'parked', reason: 'awaiting_registration', affiliateId: 0 })
    expect(e!.next.boundAt).toBeUndefined()
    // the registration that arrives later binds the player to its click's affiliate, and releases the event
    expect(r).toMatchObject({ status: 'attributed', reason: 'registered', affiliateId: 8 })
    expect(r!.released).toEqual([expect.objectContaining({ ev: expect.objectContaining({ kind }), status: 'attributed', reason: 'bound_player', affiliateId: 8 })])
    expect(r!.next.parked).toBeUndefined()
  })

  it('a later event never binds through a click id it carries (only registrations and FTDs do)', () => {
    const [e] = run([later('deposit', { clickId: click(7) })])
    expect(e).toMatchObject({ status: 'parked', affiliateId: 0 })
  })

  it('an organic player stays organic for every later event', () => {
    const [, e] = run([reg(), later('activity')])
    expect(e).toMatchObject({ status: 'unattributed', reason: 'player_unattributed', affiliateId: 0 })
  })

  it('a later event does not count as the FTD: a real FTD afterwards still pays the CPA once', () => {
    const [, d, f] = run([reg({ clickId: click(7) }), later('deposit', { ts: T0 + DAY }), ftd({ ts: T0 + 2 * DAY })])
    expect(d!.reason).not.toBe('first_deposit')
    expect(f).toMatchObject({ status: 'attributed', reason: 'first_deposit', affiliateId: 7 })
    expect(f!.reason).toBe('first_deposit')
  })

  it('a redelivered later event is recognised by its stream position', () => {
    const [r] = run([reg({ clickId: click(7) })])
    const d = later('deposit')
    const first = applied(applyConversion(d, [5, 0], r!.next, ctx))
    expect(applyConversion(d, [5, 0], first.next, ctx)).toEqual({ status: 'already_applied' })
  })
})

describe('out of order: events before the registration are parked, then applied on binding', () => {
  const dep = (ts: number, playerId = 'alice'): ConversionEvent => {
    const eventId = `dep-${++n}`
    return { kind: 'deposit', id: `1:${eventId}`, sourceId: 1, eventId, ts, playerId, amount: '30', currency: 'EUR' }
  }
  const act = (ts: number): ConversionEvent => {
    const eventId = `act-${++n}`
    return { kind: 'activity', id: `1:${eventId}`, sourceId: 1, eventId, ts, playerId: 'alice', currency: 'EUR', details: { date: '2026-01-01', bets: '5' } }
  }

  it('deposit, FTD and activity before the registration: all released in arrival order, the FTD recorded', () => {
    const d = dep(T0 + 1000)
    const f = ftd({ ts: T0 + 2000 })
    const a = act(T0 + 3000)
    const [o1, o2, o3, r] = run([d, f, a, reg({ clickId: click(7), ts: T0 + 4000 })])
    for (const o of [o1, o2, o3]) expect(o).toMatchObject({ status: 'parked', reason: 'awaiting_registration' })
    expect(o3!.next.parked!.map((p) => p.ev.id)).toEqual([d.id, f.id, a.id])
    expect(r).toMatchObject({ status: 'attributed', reason: 'registered', affiliateId: 7 })
    expect(r!.released!.map((x) => [x.ev.id, x.status, x.reason, x.affiliateId])).toEqual([
      [d.id, 'attributed', 'bound_player', 7],
      [f.id, 'attributed', 'first_deposit', 7],
      [a.id, 'attributed', 'bound_player', 7],
    ])
    expect(r!.released![1]!.reason).toBe('first_deposit')
    expect(r!.next).toMatchObject({ affiliateId: 7, registeredAt: T0 + 4000, ftdEventId: f.id, ftdAt: T0 + 2000, pos: [4, 0] })
    expect(r!.next.parked).toBeUndefined()
    expect(r!.next.ftdEventId).toBeDefined()
  })

  it('a parked FTD is paid by the deal version of its own time, not the registration time', () => {
    const f = ftd({ ts: CHANGE - 1 })
    const [, r] = run([f, reg({ clickId: click(7, CHANGE - DAY), ts: CHANGE + DAY })])
    expect(r!.released![0]!.reason).toBe('first_deposit')
  })

  it.each<[string, () => string | undefined, string]>([
    ['organic registration (no click)', () => undefined, 'no_click_id'],
    ['a forged click', () => forger.issue({ ts: T0, linkId: 1, affiliateId: 7, offerId: 1 }), 'bad_signature'],
    ['an expired click', () => click(7, T0 - WINDOW - DAY), 'click_expired'],
  ])('registration with %s: parked events are released unattributed, as the player is', (_n, clickId, why) => {
    const d = dep(T0 + 1000)
    const cid = clickId()
    const [, r] = run([d, reg({ ...(cid ? { clickId: cid } : {}), ts: T0 + 2000 })])
    expect(r).toMatchObject({ status: 'unattributed', reason: why, affiliateId: 0 })
    expect(r!.released).toEqual([expect.objectContaining({ status: 'unattributed', reason: 'player_unattributed', affiliateId: 0 })])
  })

  it('a cookieless FTD binds and releases what was parked; a registration after it keeps that binding (first touch)', () => {
    const d = dep(T0 + 1000)
    const [, f, r] = run([d, ftd({ clickId: click(7), ts: T0 + 2000 }), reg({ clickId: click(8), ts: T0 + 3000 })])
    expect(f).toMatchObject({ status: 'attributed', reason: 'first_deposit', affiliateId: 7 })
    expect(f!.released).toEqual([expect.objectContaining({ ev: d, status: 'attributed', reason: 'bound_player', affiliateId: 7 })])
    expect(r).toMatchObject({ status: 'attributed', reason: 'registered', affiliateId: 7 })
    expect(r!.released).toBeUndefined()
  })

  it('two parked FTDs: the first is the FTD, the second a duplicate', () => {
    const f1 = ftd({ ts: T0 + 1000 })
    const f2 = ftd({ ts: T0 + 2000 })
    const [, , r] = run([f1, f2, reg({ clickId: click(7), ts: T0 + 3000 })])
    expect(r!.released!.map((x) => [x.ev.id, x.status, x.reason])).toEqual([
      [f1.id, 'attributed', 'first_deposit'],
      [f2.id, 'duplicate', 'ftd_already_recorded'],
    ])
    expect(r!.released!.filter((x) => x.reason === 'first_deposit')).toHaveLength(1)
  })

  it('a redelivered registration releases nothing twice; a redelivered parked event is not parked twice', () => {
    const d = dep(T0 + 1000)
    const p = applied(applyConversion(d, [1, 0], undefined, ctx))
    expect(applyConversion(d, [1, 0], p.next, ctx)).toEqual({ status: 'already_applied' })
    const rg = reg({ clickId: click(7), ts: T0 + 2000 })
    const r = applied(applyConversion(rg, [2, 0], p.next, ctx))
    expect(r.released).toHaveLength(1)
    expect(applyConversion(rg, [2, 0], r.next, ctx)).toEqual({ status: 'already_applied' })
  })

  it(`holds at most ${MAX_PARKED} events per player; beyond, an early event is recorded unattributed (parking_full)`, () => {
    const events = Array.from({ length: MAX_PARKED + 1 }, (_, i) => dep(T0 + i))
    const outs = run([...events, reg({ clickId: click(7), ts: T0 + DAY })])
    expect(outs.slice(0, MAX_PARKED).every((o) => o.status === 'parked')).toBe(true)
    expect(outs[MAX_PARKED]).toMatchObject({ status: 'unattributed', reason: 'parking_full' })
    expect(outs.at(-1)!.released).toHaveLength(MAX_PARKED)
  })

  it("parked events of one player never reach another player's binding", () => {
    let bob: PlayerState | undefined
    let alice: PlayerState | undefined
    bob = applied(applyConversion(dep(T0, 'bob'), [1, 0], bob, ctx)).next
    alice = applied(applyConversion(reg({ clickId: click(7), playerId: 'alice' }), [2, 0], alice, ctx)).next
    expect(alice.parked).toBeUndefined()
    const rb = applied(applyConversion(reg({ clickId: click(8), playerId: 'bob' }), [3, 0], bob, ctx))
    expect(rb.released).toEqual([expect.objectContaining({ affiliateId: 8 })])
  })
})

describe('reassignment by an operator: from its position on, never retroactive', () => {
  let k = 0
  const ra = (affiliateId: number, ts = T0 + 5 * DAY, playerId = 'alice'): ReassignEvent => ({
    kind: 'reassign',
    id: `ra:${++k}`,
    ts,
    playerId,
    affiliateId,
    by: 'operator',
    note: 'moved after an audit',
  })
  const dep = (ts: number): ConversionEvent => {
    const eventId = `dep-${++n}`
    return { kind: 'deposit', id: `1:${eventId}`, sourceId: 1, eventId, ts, playerId: 'alice', amount: '30', currency: 'EUR' }
  }
  /** run() with reassignments mixed in */
  function runAll(events: (ConversionEvent | ReassignEvent)[]): Applied[] {
    let state: PlayerState | undefined
    return events.map((e, i) => {
      const o = applied(e.kind === 'reassign' ? applyReassign(e, [i + 1, 0], state, ctx) : applyConversion(e, [i + 1, 0], state, ctx))
      state = o.next ?? state
      return o
    })
  }

  it.each<[string, (ConversionEvent | ReassignEvent)[], [string, string, number][]]>([
    [
      'registered to 7, reassigned to 8: later deposits go to 8',
      [reg({ clickId: click(7) }), ra(8), dep(T0 + 6 * DAY)],
      [
        ['attributed', 'registered', 7],
        ['attributed', 'reassigned', 8],
        ['attributed', 'bound_player', 8],
      ],
    ],
    [
      'reassigned before the FTD: the CPA goes to the new affiliate, by its deal',
      [reg({ clickId: click(7) }), ra(8, T0 + DAY / 2), ftd({ ts: T0 + DAY })],
      [
        ['attributed', 'registered', 7],
        ['attributed', 'reassigned', 8],
        ['attributed', 'first_deposit', 8],
      ],
    ],
    [
      'reassigned after the FTD: the CPA stays paid to 7 and is not paid again',
      [reg({ clickId: click(7) }), ftd({ ts: T0 + DAY }), ra(8), ftd({ ts: T0 + 6 * DAY })],
      [
        ['attributed', 'registered', 7],
        ['attributed', 'first_deposit', 7],
        ['attributed', 'reassigned', 8],
        ['duplicate', 'ftd_already_recorded', 8],
      ],
    ],
    [
      'an organic player given to an affiliate',
      [reg(), ra(7), dep(T0 + 6 * DAY)],
      [
        ['unattributed', 'no_click_id', 0],
        ['attributed', 'reassigned', 7],
        ['attributed', 'bound_player', 7],
      ],
    ],
    [
      'made organic (0): later events are unattributed',
      [reg({ clickId: click(7) }), ra(0), dep(T0 + 6 * DAY)],
      [
        ['attributed', 'registered', 7],
        ['unattributed', 'reassigned', 0],
        ['unattributed', 'player_unattributed', 0],
      ],
    ],
    [
      'a registration after the reassignment of an unknown player does not re-bind it (first touch is the operator)',
      [ra(8, T0), reg({ clickId: click(7), ts: T0 + DAY })],
      [
        ['attributed', 'reassigned', 8],
        ['attributed', 'registered', 8],
      ],
    ],
  ])('%s', (_n, events, want) => {
    expect(runAll(events).map((o) => [o.status, o.reason, o.affiliateId])).toEqual(want)
  })

  const imp = (affiliateId: number, ts = T0): ReassignEvent => ({ ...ra(affiliateId, ts), linkId: 300 + affiliateId, offerId: 4, onlyIfUnbound: true, by: 'import' })

  it.each<[string, (ConversionEvent | ReassignEvent)[], [string, string, number][]]>([
    [
      'an imported binding binds an unknown player, with its legacy link',
      [imp(8), dep(T0 + DAY)],
      [
        ['attributed', 'imported', 8],
        ['attributed', 'bound_player', 8],
      ],
    ],
    [
      'an imported binding never moves a bound player (first touch stands)',
      [reg({ clickId: click(7) }), imp(8, T0 + DAY), dep(T0 + 2 * DAY)],
      [
        ['attributed', 'registered', 7],
        ['duplicate', 'player_already_bound', 7],
        ['attributed', 'bound_player', 7],
      ],
    ],
    [
      'a registration after the import keeps the imported affiliate',
      [imp(8), reg({ clickId: click(7), ts: T0 + DAY }), ftd({ ts: T0 + 2 * DAY })],
      [
        ['attributed', 'imported', 8],
        ['attributed', 'registered', 8],
        ['attributed', 'first_deposit', 8],
      ],
    ],
  ])('import: %s', (_n, events, want) => {
    expect(runAll(events).map((o) => [o.status, o.reason, o.affiliateId])).toEqual(want)
  })

  it('an imported binding records the legacy link and applies what was parked', () => {
    const d = dep(T0)
    const [, o] = runAll([d, imp(8, T0 + DAY)])
    expect(o).toMatchObject({ status: 'attributed', reason: 'imported', affiliateId: 8, linkId: 308, offerId: 4 })
    expect(o!.released).toEqual([expect.objectContaining({ ev: d, affiliateId: 8, linkId: 308 })])
  })

  it('binds a player known only by parked events and applies them to the new affiliate', () => {
    const d = dep(T0)
    const [, r] = runAll([d, ra(8, T0 + DAY)])
    expect(r).toMatchObject({ status: 'attributed', reason: 'reassigned', affiliateId: 8 })
    expect(r!.released).toEqual([expect.objectContaining({ ev: d, status: 'attributed', reason: 'bound_player', affiliateId: 8 })])
    expect(r!.next).toMatchObject({ affiliateId: 8, reassignedFrom: 0, reassignedAt: T0 + DAY })
    expect(r!.next.parked).toBeUndefined()
  })

  it('records when and from whom; a redelivered reassignment changes nothing', () => {
    const [r0] = runAll([reg({ clickId: click(7) })])
    const e = ra(8)
    const o = applied(applyReassign(e, [2, 0], r0!.next, ctx))
    expect(o.next).toMatchObject({ affiliateId: 8, reassignedFrom: 7, reassignedAt: e.ts, linkId: 0, offerId: 0 })
    expect(o.next.clickId).toBeUndefined()
    expect(applyReassign(e, [2, 0], o.next, ctx)).toEqual({ status: 'already_applied' })
  })
})

describe('a later event applied once, even when a copy comes back after the stream forgot its id', () => {
  const dep = (eventId: string): ConversionEvent => ({ kind: 'deposit', id: `1:${eventId}`, sourceId: 1, eventId, ts: T0 + DAY, playerId: 'alice', amount: '30', currency: 'EUR' })

  it('the second copy of a deposit is a duplicate', () => {
    const [, a, b, c] = run([reg({ clickId: click(7) }), dep('d-1'), dep('d-1'), dep('d-2')])
    expect(a).toMatchObject({ status: 'attributed', reason: 'bound_player' })
    expect(b).toMatchObject({ status: 'duplicate', reason: 'event_already_applied', affiliateId: 7 })
    expect(c).toMatchObject({ status: 'attributed', reason: 'bound_player' })
  })

  it('a copy of a parked event is not parked twice', () => {
    const [a, b, r] = run([dep('d-1'), dep('d-1'), reg({ clickId: click(7), ts: T0 + 2 * DAY })])
    expect(a).toMatchObject({ status: 'parked' })
    expect(b).toMatchObject({ status: 'duplicate', reason: 'event_already_applied' })
    expect(r!.released).toHaveLength(1)
  })

  it(`remembers the latest ${SEEN_IDS} ids per player`, () => {
    const outs = run([reg({ clickId: click(7) }), ...Array.from({ length: SEEN_IDS + 10 }, (_, i) => dep(`d-${i}`))])
    const next = outs.at(-1)!.next!
    expect(next.seenIds).toHaveLength(SEEN_IDS * 8)
    expect(next.seenIds!.slice(-8)).toBe(seenToken(`1:d-${SEEN_IDS + 9}`))
    // the oldest remembered is the 11th; the 10th is forgotten (it would be applied again)
    expect(next.seenIds!.slice(0, 8)).toBe(seenToken('1:d-10'))
    // compact: the state with 256 remembered ids stays near 2 KB
    expect(JSON.stringify(next).length).toBeLessThan(2_500)
    const [again, forgotten] = run([reg({ clickId: click(7) }), ...Array.from({ length: SEEN_IDS + 10 }, (_, i) => dep(`d-${i}`)), dep(`d-${SEEN_IDS + 9}`), dep('d-9')]).slice(-2)
    expect(again).toMatchObject({ status: 'duplicate', reason: 'event_already_applied' })
    expect(forgotten).toMatchObject({ status: 'attributed' })
  })

  it('reads a state written with the ids themselves, and writes tokens from then on', () => {
    const [, first] = run([reg({ clickId: click(7) }), dep('d-1')])
    const old: PlayerState = { ...first!.next!, seenIds: undefined, seen: ['1:d-1'] }
    const copy = applyConversion(dep('d-1'), [900, 0], old, ctx)
    expect(copy).toMatchObject({ status: 'duplicate', reason: 'event_already_applied' })
    const fresh = applyConversion(dep('d-2'), [901, 0], old, ctx)
    expect(fresh).toMatchObject({ status: 'attributed' })
    expect((fresh as { next: PlayerState }).next.seen).toBeUndefined()
    expect((fresh as { next: PlayerState }).next.seenIds).toBe(seenToken('1:d-1') + seenToken('1:d-2'))
  })
})
