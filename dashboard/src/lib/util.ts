/** Small helpers the management views share. */
import { ApiError } from './api'
import type { Subs } from './types'

/** What to tell the user about a failed call: the API's reason, or the error's message. */
export function errText(e: unknown): string {
  if (e instanceof ApiError) return e.status === 401 ? `${e.message} (sign in again)` : e.message
  return e instanceof Error ? e.message : String(e)
}

/** A date from ms since the epoch or an ISO string, in the user's locale. */
export function when(t: number | string | undefined): string {
  if (t === undefined || t === '') return '—'
  const d = new Date(t)
  return Number.isNaN(d.getTime()) ? String(t) : d.toLocaleString()
}

/** "a, b\nc" → ['a', 'b', 'c'] */
export function splitList(s: string): string[] {
  return s
    .split(/[\s,;]+/)
    .map((x) => x.trim())
    .filter(Boolean)
}

/** The public tracking URL of a link code. */
export function trackingUrl(code: string): string {
  return `${location.origin}/c/${encodeURIComponent(code)}`
}

/** A link's sub-ids as "sub1=a sub2=b", or — when it has none. */
export function subText(s: Subs | undefined): string {
  return s && Object.keys(s).length
    ? Object.entries(s)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')
    : '—'
}

/** Only the sub-ids that were filled in; undefined when none was. */
export function filledSubs(subs: Record<string, string>): Record<string, string> | undefined {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(subs)) if (v.trim()) out[k] = v.trim()
  return Object.keys(out).length ? out : undefined
}

/** A URL with the filled sub-ids appended as query parameters. */
export function withSubs(url: string, subs: Record<string, string>): string {
  const q = new URLSearchParams(filledSubs(subs) ?? {}).toString()
  return q ? `${url}${url.includes('?') ? '&' : '?'}${q}` : url
}

/** Copy text to the clipboard; false when the page may not (then the caller selects the text instead). */
export async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text)
      return true
    }
  } catch {
    // not allowed here: fall back to selecting the text
  }
  return false
}

/** A list field's text ("a, b") from its items. */
export const joinList = (xs: readonly string[] | undefined) => (xs ?? []).join(', ')

/** Two-letter country codes from "de, at" (upper case). */
export const countryList = (s: string) => splitList(s).map((m) => m.toUpperCase())
