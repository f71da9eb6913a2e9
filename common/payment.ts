/**
 * How an affiliate is paid: bank transfer (IBAN, checked by its check digits and country
 * length; BIC optional), an e-wallet (PayPal or Skrill by e-mail, Neteller by account id or
 * e-mail), or crypto (an address checked against its network's format). Validated where it
 * is entered; payouts group statements by method.
 */
import { electronicFormatIBAN, isValidBIC, isValidIBAN } from 'ibantools'
import { z } from 'zod'

export const PAYMENT_METHODS = ['bank', 'ewallet', 'crypto'] as const
export type PaymentMethod = (typeof PAYMENT_METHODS)[number]

const CRYPTO_ADDRESS: Record<string, RegExp> = {
  BTC: /^(bc1[02-9ac-hj-np-z]{11,71}|[13][1-9A-HJ-NP-Za-km-z]{25,34})$/,
  ETH: /^0x[0-9a-fA-F]{40}$/,
  'USDT-ERC20': /^0x[0-9a-fA-F]{40}$/,
  'USDT-TRC20': /^T[1-9A-HJ-NP-Za-km-z]{33}$/,
}
export const CRYPTO_NETWORKS = Object.keys(CRYPTO_ADDRESS) as (keyof typeof CRYPTO_ADDRESS)[]

const email = z.string().trim().email('must be an e-mail address')

export const PaymentDetailsSchema = z.discriminatedUnion('method', [
  z
    .object({
      method: z.literal('bank'),
      holder: z.string().trim().min(1, 'the account holder’s name').max(70),
      iban: z
        .string()
        .transform((s) => electronicFormatIBAN(s) ?? '')
        .refine((s) => isValidIBAN(s), 'is not a valid IBAN (check digits, country and length)'),
      bic: z
        .string()
        .trim()
        .toUpperCase()
        .refine((s) => isValidBIC(s), 'is not a valid BIC (8 or 11 characters)')
        .optional(),
    })
    .strict(),
  z
    .object({
      method: z.literal('ewallet'),
      provider: z.enum(['paypal', 'skrill', 'neteller']),
      account: z.string().trim().min(1).max(100),
    })
    .strict()
    .superRefine((p, ctx) => {
      if (p.provider !== 'neteller' && !email.safeParse(p.account).success) ctx.addIssue({ code: 'custom', path: ['account'], message: `a ${p.provider} account is its e-mail address` })
    }),
  z
    .object({
      method: z.literal('crypto'),
      network: z.enum(CRYPTO_NETWORKS as [string, ...string[]]),
      address: z.string().trim(),
    })
    .strict()
    .superRefine((p, ctx) => {
      if (!CRYPTO_ADDRESS[p.network]!.test(p.address)) ctx.addIssue({ code: 'custom', path: ['address'], message: `is not a ${p.network} address` })
    }),
])
export type PaymentDetails = z.infer<typeof PaymentDetailsSchema>

/** The details as a person may see them in a list or a notice: most of the number hidden. */
export function maskedPayment(p: PaymentDetails): string {
  const tail = (s: string) => `…${s.slice(-4)}`
  if (p.method === 'bank') return `bank transfer to ${p.holder}, IBAN ${p.iban.slice(0, 4)}${tail(p.iban)}`
  if (p.method === 'ewallet') return `${p.provider} ${p.account.includes('@') ? p.account.replace(/^(.).*(@.*)$/, '$1…$2') : tail(p.account)}`
  return `${p.network} ${p.address.slice(0, 4)}${tail(p.address)}`
}
