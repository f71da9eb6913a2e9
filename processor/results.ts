/**
 * What a pipeline step returns, and what each result means for the stream: the one place
 * where outcomes become actions.
 *
 *   result              per event                                      the batch
 *   ok(value)           its rows are written, it goes on to the next step   acknowledged with the rest
 *   park(value)         held in the player's state until its registration;  acknowledged
 *                       its row says `parked`
 *   drop(reason)        nothing written (e.g. already applied), counted     acknowledged
 *   deadLetter(reason)  to the DEADLETTER stream with the reason: input     acknowledged
 *                       that can never become valid
 *   (an exception)      —                                                   nothing written, not acknowledged:
 *                                                                           retried with backoff (a bug must not
 *                                                                           quietly lower a total)
 *
 * Steps never throw for an expected outcome; an exception is a bug, and fails the batch.
 */

export type Ok<T, O extends string = string> = { type: 'ok'; value: T; outcome?: O }
export type Park<T, O extends string = string> = { type: 'park'; value: T; outcome?: O }
export type Drop<R extends string> = { type: 'drop'; reason: R }
export type DeadLetter<R extends string> = { type: 'dead_letter'; reason: R; detail?: string }

/** `O`: the step's closed set of outcomes (counted), `R`: its reasons to drop or dead-letter. */
export type StepResult<T, R extends string = never, O extends string = string> = Ok<T, O> | Park<T, O> | Drop<R> | DeadLetter<R>

/** `outcome` names what happened, for the per-step counts (default `ok`). */
export function ok<T, O extends string = never>(value: T, outcome?: O): Ok<T, O> {
  return outcome === undefined ? { type: 'ok', value } : { type: 'ok', value, outcome }
}
export function park<T, O extends string = never>(value: T, outcome?: O): Park<T, O> {
  return outcome === undefined ? { type: 'park', value } : { type: 'park', value, outcome }
}
export function drop<R extends string>(reason: R): Drop<R> {
  return { type: 'drop', reason }
}
export function deadLetter<R extends string>(reason: R, detail?: string): DeadLetter<R> {
  return detail === undefined ? { type: 'dead_letter', reason } : { type: 'dead_letter', reason, detail }
}

export type EventAction = 'write' | 'hold' | 'skip' | 'dead_letter'

const ACTIONS = { ok: 'write', park: 'hold', drop: 'skip', dead_letter: 'dead_letter' } as const satisfies Record<
  StepResult<unknown, string>['type'],
  EventAction
>

export function actionOf(r: StepResult<unknown, string>): EventAction {
  return ACTIONS[r.type]
}

/** The counter a result adds one to: `step.outcome` or `step.reason`; none for a plain ok
 *  (a step that only passes good input on, such as decode, counts its rejects). */
export function counterOf(step: string, r: StepResult<unknown, string>): string | undefined {
  switch (r.type) {
    case 'ok':
      return r.outcome === undefined ? undefined : counterName(step, r.outcome)
    case 'park':
      return counterName(step, r.outcome ?? 'parked')
    case 'drop':
    case 'dead_letter':
      return counterName(step, r.reason)
  }
}

// Counted once per event on the hot path: the names come from a closed set, so each is built once.
const names = new Map<string, Map<string, string>>()
function counterName(step: string, what: string): string {
  let byStep = names.get(step)
  if (!byStep) names.set(step, (byStep = new Map()))
  let name = byStep.get(what)
  if (name === undefined) byStep.set(what, (name = `${step}.${what}`))
  return name
}

/** The reason a dead letter carries on the DEADLETTER stream. */
export function deadLetterText(r: DeadLetter<string>): string {
  return r.detail === undefined ? r.reason : `${r.reason}: ${r.detail}`
}

/** A batch that failed (an exception: a bug or an unavailable dependency), as status shows it. */
export type BatchFailure = {
  message: string
  /** tries so far, the first included */
  tries: number
  /** when the first try failed, ISO */
  since: string
  first: number
  last: number
  /** wait before the next try, ms */
  nextDelayMs: number
}

/** Backoff before try `tries + 1` of a failed batch: exponential, capped. */
export function retryDelayMs(tries: number, baseMs = 100, capMs = 5_000): number {
  return Math.min(capMs, baseMs * 2 ** Math.max(0, Math.min(tries - 1, 20)))
}
