/** Field schemas more than one entity uses. */
import { z } from 'zod'

/** An http(s) URL (a destination template may hold {macros} in its path and query). It must
 *  be printable ASCII without spaces (percent-encode the rest): it becomes a Location header. */
export const HttpUrl = z
  .string()
  .max(2000)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces (percent-encode other characters)')
  .url()
  .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL')
  // A macro in the scheme, host or port would let a visitor's sub-id choose where it goes.
  .refine((u) => !/^[^/]*\/\/[^/?#]*[{}]/.test(u), 'may use macros only in the path and query, never in the host')

/** ISO 3166-1 alpha-2 country codes, as the IP lookup gives them. */
export const Markets = z
  .array(
    z
      .string()
      .toUpperCase()
      .regex(/^[A-Z]{2}$/, 'must be a two-letter country code such as DE'),
  )
  .max(250)
