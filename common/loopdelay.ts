/**
 * The event-loop delay of this process, as `/api/status` shows it: what every request on the
 * process waits behind. Node's histogram records the whole interval between two ticks of its
 * sampling timer, so every reading is at least the timer's resolution (a quiet loop reads
 * "10 ms" at a 10 ms resolution): the resolution is taken off here. Two views: the last
 * complete window (a load test reads what happened during it) and since start.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'

export type DelayFigures = { p50: number; p99: number; max: number }

/** Percentiles of a histogram in ms, net of the sampling resolution. */
export function netFigures(h: Pick<IntervalHistogram, 'percentile' | 'max' | 'count'>, resolutionMs: number): DelayFigures {
  if (h.count === 0) return { p50: 0, p99: 0, max: 0 }
  const net = (ns: number) => Math.max(0, Math.round((ns / 1e6 - resolutionMs) * 100) / 100)
  return { p50: net(h.percentile(50)), p99: net(h.percentile(99)), max: net(h.max) }
}

export class LoopDelay {
  readonly #resolutionMs: number
  readonly #windowMs: number
  readonly #since: IntervalHistogram
  readonly #window: IntervalHistogram
  #last: DelayFigures = { p50: 0, p99: 0, max: 0 }
  #timer: NodeJS.Timeout | undefined

  constructor(o: { resolutionMs?: number; windowMs?: number } = {}) {
    this.#resolutionMs = o.resolutionMs ?? 10
    this.#windowMs = o.windowMs ?? 10_000
    this.#since = monitorEventLoopDelay({ resolution: this.#resolutionMs })
    this.#window = monitorEventLoopDelay({ resolution: this.#resolutionMs })
  }

  start(): this {
    this.#since.enable()
    this.#window.enable()
    this.#timer = setInterval(() => this.roll(), this.#windowMs)
    this.#timer.unref()
    return this
  }

  /** Close the current window: its figures become `lastWindow`, and a new one starts. */
  roll() {
    this.#last = netFigures(this.#window, this.#resolutionMs)
    this.#window.reset()
  }

  stop() {
    clearInterval(this.#timer)
    this.#since.disable()
    this.#window.disable()
  }

  /** `lastWindow`: the last complete window of `windowS` seconds; `sinceStart`: everything. */
  figures(): { windowS: number; lastWindow: DelayFigures; sinceStart: DelayFigures } {
    return { windowS: this.#windowMs / 1000, lastWindow: this.#last, sinceStart: netFigures(this.#since, this.#resolutionMs) }
  }
}
