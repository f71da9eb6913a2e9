/**
 * The state the management views share: a list loaded from the API (with its error shown
 * above the table) and a form being sent (with its error shown next to the form).
 */
import { api } from './api'
import type { Items } from './types'
import { errText } from './util'

/** The items of a list endpoint. */
export const getItems = async <T>(path: string): Promise<T[]> => (await api<Items<T>>(path)).items

/** POST a JSON body. */
export const post = <T = unknown>(path: string, body: unknown): Promise<T> => api<T>(path, { method: 'POST', body: JSON.stringify(body) })

/** PATCH a JSON body. */
export const patch = <T = unknown>(path: string, body: unknown): Promise<T> => api<T>(path, { method: 'PATCH', body: JSON.stringify(body) })

/** A list from the API. `error` is why loading it, or an action on one of its rows, failed. */
export class Listing<T> {
  items = $state<T[]>([])
  error = $state('')
  readonly #fetch: () => Promise<T[]>

  /** fetch: the rows (it may set the other data the view loads with them, too). */
  constructor(fetch: () => Promise<T[]>) {
    this.#fetch = fetch
  }

  async load() {
    try {
      this.items = await this.#fetch()
      this.error = ''
    } catch (e) {
      this.error = errText(e)
    }
  }

  /** A row action; when it fails, `label: reason` ('' for the reason alone). True when it succeeded. */
  async attempt(label: string, fn: () => Promise<unknown>): Promise<boolean> {
    this.error = ''
    try {
      await fn()
      return true
    } catch (e) {
      this.error = label ? `${label}: ${errText(e)}` : errText(e)
      return false
    }
  }

  /** A row action that changes the list: on success the list is loaded again. */
  async act(label: string, fn: () => Promise<unknown>) {
    if (await this.attempt(label, fn)) await this.load()
  }
}

/** A form being sent: `busy` while it is, `error` when it failed. */
export class Submit {
  busy = $state(false)
  error = $state('')

  /** Runs fn (build the body, send it, reset the fields, reload); false, with the reason in `error`, when it threw. */
  async run(fn: () => Promise<unknown>): Promise<boolean> {
    this.busy = true
    this.error = ''
    try {
      await fn()
      return true
    } catch (e) {
      this.error = errText(e)
      return false
    } finally {
      this.busy = false
    }
  }
}

/**
 * Editing one row of a list in place: which row, a draft of its fields, and the save's
 * error shown next to the draft. `save` sends the draft; on success the row closes and the
 * list is loaded again.
 */
export class Editor<D> {
  id = $state<number | null>(null)
  draft = $state<D | null>(null)
  readonly submit = new Submit()
  /** the row saved last, for "saved" next to it */
  saved = $state<number | null>(null)

  open(id: number, draft: D) {
    this.id = id
    this.draft = draft
    this.submit.error = ''
    this.saved = null
  }

  close() {
    this.id = null
    this.draft = null
  }

  async save(list: { load: () => Promise<unknown> }, send: (draft: D) => Promise<unknown>) {
    const d = this.draft
    const id = this.id
    if (d === null || id === null) return
    if (
      await this.submit.run(async () => {
        await send(d)
        await list.load()
      })
    ) {
      this.close()
      this.saved = id
    }
  }
}
