import { describe, expect, it } from 'vitest'
import { CpaDealSchema } from './entities.js'
import { ConversionEventSchema } from './events.js'
import { CurrencySchema } from './money.js'

describe('events as stored on the stream', () => {
  // A replay must compute what the first run computed: an event stored before ISO 4217 was
  // checked at the edge (or before its code was withdrawn) still decodes.
  it.each(['HRK', 'QQQ', 'EUR'])('a stored event in %s still decodes, whatever the edge says of the code today', (currency) => {
    const e = { kind: 'deposit', id: '1:d-1', sourceId: 1, eventId: 'd-1', ts: 1_700_000_000_000, playerId: 'p-1', amount: '20.00', currency }
    expect(ConversionEventSchema.parse(e).currency).toBe(currency)
  })

  it('a deal version stored in a code since withdrawn stays readable, so its FTDs are still paid by it', () => {
    const deal = { affiliateId: 1, versions: [{ version: 1, amount: '100', currency: 'HRK', effectiveFrom: 0, createdAt: 0 }] }
    expect(CpaDealSchema.parse(deal).versions[0]!.currency).toBe('HRK')
  })

  it('the edge refuses those codes for new events', () => {
    expect(CurrencySchema.safeParse('HRK').success).toBe(false)
    expect(CurrencySchema.safeParse('QQQ').success).toBe(false)
  })

  it.each(['eur', 'EU', 'EURO', ''])('a stored currency %j that is not three capital letters does not decode', (currency) => {
    const e = { kind: 'deposit', id: '1:d-1', sourceId: 1, eventId: 'd-1', ts: 1_700_000_000_000, playerId: 'p-1', amount: '20.00', currency }
    expect(ConversionEventSchema.safeParse(e).success).toBe(false)
  })
})
