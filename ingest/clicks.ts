/**
 * GET /c/:code — the tracked redirect. The hot path: an in-memory link lookup (kept live
 * by a KV watch), a signed click id, one enqueue into the group-committed publisher, 302.
 * No per-request log line, no I/O but the publish.
 */
import type { FastifyInstance } from 'fastify'
import type { ClickIdSigner } from '../common/clickid.js'
import { deepLinkTarget, linkDestination, linkMarkets, type Link, type Offer, type WatchedBucket } from '../common/entities.js'
import { SUB_IDS, type ClickEvent } from '../common/events.js'
import { countryOf, geoDecision } from '../common/geo.js'
import type { FloodGuard } from './flood.js'
import type { Publisher } from './publisher.js'

const MAX_PARAMS = 32
const MAX_VALUE = 512

const NOT_FOUND_PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>Link not found</title></head>
<body style="font-family:system-ui;margin:4rem auto;max-width:32rem;color:#333"><h1>Link not found</h1>
<p>This tracking link does not exist or is no longer active.</p></body></html>`

const GEO_BLOCKED_PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>Not available in your country</title></head>
<body style="font-family:system-ui;margin:4rem auto;max-width:32rem;color:#333"><h1>Not available in your country</h1>
<p>This offer is not available where you are.</p></body></html>`

/** The first-party click cookie: set on every tracked redirect, read back by the operator's site. */
export type ClickCookie = { name: string; domain?: string | undefined; maxAgeDays: number }

/** The Set-Cookie value for a click (not HttpOnly: the operator's own pages read it). */
export function clickCookie(c: ClickCookie, clickId: string, secure: boolean): string {
  return `${c.name}=${clickId}; Max-Age=${c.maxAgeDays * 86_400}; Path=/${c.domain ? `; Domain=${c.domain}` : ''}; SameSite=Lax${secure ? '; Secure' : ''}`
}

/**
 * A script for landing pages on another domain than the tracker: it keeps the click id of
 * the URL (?click_id=) in a first-party cookie of the landing page's own site, so the
 * registration form can send it along when the visitor comes back days later. The
 * operator's platform passes it through, and back in the registration postback.
 */
export function trackerScript(c: ClickCookie): string {
  return `(function(){var n=${JSON.stringify(c.name)},d=${c.maxAgeDays * 86400};
var m=/[?&]click_id=([A-Za-z0-9_-]{20,100})/.exec(location.search);
if(m){document.cookie=n+"="+m[1]+"; Max-Age="+d+"; Path=/; SameSite=Lax"+(location.protocol==="https:"?"; Secure":"")}
window.affClickId=function(){var r=new RegExp("(?:^|; )"+n+"=([^;]*)").exec(document.cookie);return r?r[1]:""};})();
`
}

export type ClickDeps = {
  links: WatchedBucket<Link>
  /** offers, for deep links (?url=) on their allow-lists */
  offers?: WatchedBucket<Offer>
  signer: ClickIdSigner
  publisher: Publisher
  ack: 'stored' | 'buffered'
  /** the first-party click cookie; none: the cookieless path only */
  cookie?: ClickCookie | undefined
  /** clicks per address over its limit are still redirected, marked `flood` on the stream */
  flood?: FloodGuard | undefined
}

function first(v: unknown): string {
  const s = Array.isArray(v) ? v[0] : v
  return typeof s === 'string' ? s.slice(0, MAX_VALUE) : ''
}

/** Substitute {macros} in a destination template; appends click_id when the template has no {click_id}. */
export function expandDestination(template: string, vars: Record<string, string>): string {
  const url = template.includes('{')
    ? template.replace(/\{([a-z0-9_]+)\}/g, (m, k: string) => (Object.hasOwn(vars, k) ? encodeURIComponent(vars[k]!) : m))
    : template
  if (template.includes('{click_id}')) return url
  // The parameter goes before any #fragment: browsers never send the fragment to the server.
  const hash = url.indexOf('#')
  const [base, fragment] = hash < 0 ? [url, ''] : [url.slice(0, hash), url.slice(hash)]
  return `${base}${base.includes('?') ? '&' : '?'}click_id=${encodeURIComponent(vars.click_id ?? '')}${fragment}`
}

const noop = () => {}

export function clickRoutes(app: FastifyInstance, deps: ClickDeps) {
  if (deps.cookie) {
    const js = trackerScript(deps.cookie)
    app.get('/t.js', (_req, reply) => {
      reply.type('text/javascript; charset=utf-8').header('cache-control', 'public, max-age=3600').send(js)
    })
  }

  // A plain (not async) handler that replies from the publisher's callback: no promise per
  // click on the hot path.
  app.get<{ Params: { code: string }; Querystring: Record<string, unknown> }>('/c/:code', (req, reply) => {
    const link = deps.links.map.get(`code.${req.params.code}`)
    if (!link || link.status !== 'active') {
      return reply.code(404).type('text/html; charset=utf-8').send(NOT_FOUND_PAGE)
    }
    const ts = Date.now()
    const id = deps.signer.issue({ ts, linkId: link.id, affiliateId: link.affiliateId, offerId: link.offerId })
    // Null-prototype maps: a parameter named __proto__ is kept like any other, not swallowed.
    const sub: Record<string, string> = Object.create(null)
    const params: Record<string, string> = Object.create(null)
    let n = 0
    for (const k in req.query) {
      if ((SUB_IDS as readonly string[]).includes(k)) sub[k] = first(req.query[k])
      else if (n++ < MAX_PARAMS) params[k.slice(0, 64)] = first(req.query[k])
    }
    // The link's default sub-ids fill what the click does not carry.
    if (link.subs) for (const k of SUB_IDS) if (sub[k] === undefined && link.subs[k] !== undefined) sub[k] = link.subs[k]
    const offer = link.offerId > 0 ? deps.offers?.map.get(`o.${link.offerId}`) : undefined
    const ip = req.ip
    // Only a link with a rule and markets looks the country up on the click path.
    const geo = link.geo ? geoDecision(link.geo, linkMarkets(link, offer), () => countryOf(ip)) : undefined
    const ev: ClickEvent = {
      kind: 'click',
      id,
      ts,
      code: link.code,
      linkId: link.id,
      affiliateId: link.affiliateId,
      offerId: link.offerId,
      ip,
      ua: (req.headers['user-agent'] ?? '').slice(0, MAX_VALUE),
      referer: (req.headers.referer ?? '').slice(0, MAX_VALUE),
      sub,
      params,
      ...(geo && geo.action !== 'pass' ? { geo: geo.action === 'block' ? ('blocked' as const) : ('redirected' as const) } : {}),
    }
    if (deps.flood?.hit(ip, ts)) ev.flood = true
    if (geo?.action === 'block') {
      // Recorded for the fraud team, never counted as a click; the visitor gets no click id.
      deps.publisher.clickThen(ev, noop, noop)
      return reply.code(403).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(GEO_BLOCKED_PAGE)
    }
    // A deep link (?url=) replaces the destination only when the link's offer allows its host;
    // else the link's landing page on its offer, else its own destination.
    const deep = geo?.action !== 'redirect' && typeof req.query.url === 'string' && offer && offer.status === 'active' ? deepLinkTarget(offer, req.query.url) : undefined
    const template = geo?.action === 'redirect' ? geo.url : (deep ?? linkDestination(link, offer))
    const location = expandDestination(template, {
      click_id: id,
      affiliate_id: String(link.affiliateId),
      link_id: String(link.id),
      offer_id: String(link.offerId),
      sub1: sub.sub1 ?? '',
      sub2: sub.sub2 ?? '',
      sub3: sub.sub3 ?? '',
      sub4: sub.sub4 ?? '',
      sub5: sub.sub5 ?? '',
    })
    if (deps.cookie) reply.header('set-cookie', clickCookie(deps.cookie, id, req.protocol === 'https'))
    const redirect = () => {
      if (reply.sent) return
      try {
        reply.code(302).header('location', location).header('cache-control', 'no-store').send()
      } catch (err) {
        // A destination that cannot be a header (entities are validated against this; a last guard).
        req.log.error({ err, linkId: link.id }, 'redirect failed')
        if (!reply.sent) reply.code(502).type('text/plain; charset=utf-8').send('This link cannot redirect; the operator has been told.\n')
      }
    }
    if (deps.ack === 'stored') {
      // Called when stored, after the ack timeout, or if ingest is shutting down: the visitor
      // is redirected in every case; a click that is not yet stored stays queued.
      deps.publisher.clickThen(ev, redirect, redirect)
    } else {
      deps.publisher.clickThen(ev, noop, noop)
      redirect()
    }
    return reply
  })
}
