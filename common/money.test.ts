import { describe, expect, it } from 'vitest'
import {
  addAmounts,
  AmountSchema,
  canonicalAmount,
  CurrencySchema,
  D,
  LEDGER_SCALE,
  ledgerAmount,
  MoneySchema,
  minorUnits,
  roundMinor,
  sumByCurrency,
  type Rounding,
} from './money.js'
import { JsonNumber, parseJson } from './json.js'
import { ISO_4217, WITHDRAWN } from './currencies.js'

describe('minorUnits', () => {
  it.each<[string, number]>([
    ['EUR', 2],
    ['USD', 2],
    ['GBP', 2],
    ['JPY', 0],
    ['KRW', 0],
    ['CLP', 0],
    ['ISK', 0],
    ['BHD', 3],
    ['KWD', 3],
    ['TND', 3],
    ['IQD', 3],
    ['CLF', 4],
    ['UYW', 4],
    ['UGX', 0],
    ['XOF', 0],
    ['XCG', 2],
    ['XYZ', 2], // not a currency: a code stored before codes were checked rounds like most
  ])('%s has %i decimals', (c, n) => {
    expect(minorUnits(c)).toBe(n)
  })
})

describe('roundMinor', () => {
  it.each<[string, string, Rounding | undefined, string]>([
    // half-even (the default): ties go to the even digit
    ['0.125', 'EUR', undefined, '0.12'],
    ['0.135', 'EUR', undefined, '0.14'],
    ['0.145', 'EUR', undefined, '0.14'],
    ['0.155', 'EUR', undefined, '0.16'],
    ['2.675', 'EUR', undefined, '2.68'], // exact decimal: no binary-float surprise (JS gives 2.67)
    ['2.665', 'EUR', undefined, '2.66'],
    ['-0.125', 'EUR', undefined, '-0.12'],
    ['-0.135', 'EUR', undefined, '-0.14'],
    ['0.1251', 'EUR', undefined, '0.13'], // above the half: up
    ['0.1249999999', 'EUR', undefined, '0.12'],
    ['1', 'EUR', undefined, '1.00'],
    ['0', 'EUR', undefined, '0.00'],
    ['-0.001', 'EUR', undefined, '0.00'], // no "-0.00" on a statement
    ['123456789012345678901234.125', 'EUR', undefined, '123456789012345678901234.12'],
    ['0.125', 'EUR', 'half_even', '0.12'],
    // half-up: ties away from zero
    ['0.125', 'EUR', 'half_up', '0.13'],
    ['0.135', 'EUR', 'half_up', '0.14'],
    ['-0.125', 'EUR', 'half_up', '-0.13'],
    ['0.1249', 'EUR', 'half_up', '0.12'],
    // down: truncation toward zero
    ['0.129', 'EUR', 'down', '0.12'],
    ['-0.129', 'EUR', 'down', '-0.12'],
    ['0.999999999999', 'EUR', 'down', '0.99'],
    // currencies with other minor units
    ['1234.5', 'JPY', undefined, '1234'],
    ['1235.5', 'JPY', undefined, '1236'],
    ['1234.5', 'JPY', 'half_up', '1235'],
    ['1234.99', 'JPY', 'down', '1234'],
    ['0.1235', 'BHD', undefined, '0.124'],
    ['0.1245', 'BHD', undefined, '0.124'],
    ['0.1245', 'BHD', 'half_up', '0.125'],
    ['1', 'BHD', undefined, '1.000'],
  ])('roundMinor(%s, %s, %s) = %s', (amount, currency, mode, want) => {
    expect(mode ? roundMinor(amount, currency, mode) : roundMinor(amount, currency)).toBe(want)
  })

  it('accepts a D and does not mutate it', () => {
    const d = new D('10.005')
    expect(roundMinor(d, 'EUR')).toBe('10.00')
    expect(roundMinor(d, 'EUR', 'half_up')).toBe('10.01')
    expect(d.toFixed()).toBe('10.005')
  })
})

describe('ledgerAmount', () => {
  it('has a scale of 12', () => expect(LEDGER_SCALE).toBe(12))

  it.each<[string, string]>([
    ['100', '100.000000000000'],
    ['100.5', '100.500000000000'],
    ['0.000000000001', '0.000000000001'],
    ['-25.25', '-25.250000000000'],
    ['1e-12', '0.000000000001'],
    ['1.5e3', '1500.000000000000'],
    ['123456789012345678901234.123456789012', '123456789012345678901234.123456789012'],
    ['0', '0.000000000000'],
  ])('ledgerAmount(%s) = %s', (input, want) => {
    expect(ledgerAmount(input)).toBe(want)
    expect(ledgerAmount(new D(input))).toBe(want)
  })

  it.each(['0.0000000000001', '1.1234567890123', '-0.0000000000005', '1e-13'])('throws for more than 12 decimals: %s', (input) => {
    expect(() => ledgerAmount(input)).toThrow(RangeError)
    expect(() => ledgerAmount(input)).toThrow(/more than 12 decimals/)
  })
})

describe('AmountSchema', () => {
  it.each<[string | number, string]>([
    ['100', '100'],
    ['100.00', '100.00'],
    ['0', '0'],
    ['-5.5', '-5.5'],
    ['  7.25 ', '7.25'],
    ['1.000000000001', '1.000000000001'],
    ['123456789012345678901234', '123456789012345678901234'],
    // safe integers are exact as JS numbers
    [100, '100'],
    [0, '0'],
    [-42, '-42'],
    [Number.MAX_SAFE_INTEGER, '9007199254740991'],
  ])('accepts %j → %j', (input, want) => {
    const r = AmountSchema.safeParse(input)
    expect(r.success).toBe(true)
    expect(r.data).toBe(want)
  })

  it.each<[string, unknown]>([
    ['exponent string', '1e5'],
    ['empty string', ''],
    ['blank', '   '],
    ['13 decimals', '1.0000000000001'],
    ['trailing dot', '5.'],
    ['leading dot', '.5'],
    ['plus sign', '+5'],
    ['comma decimal', '1,5'],
    ['thousands separator', '1,000.00'],
    ['currency symbol', '$5'],
    ['hex', '0x10'],
    ['25 integer digits', '1234567890123456789012345'],
    ['NaN number', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['number beyond 24 integer digits (1e25)', 1e25],
    ['float with 17 decimals', 0.1 + 0.2],
    // a float may already have lost digits: only the lossless parser's text is taken
    ['a float that looks exact', 0.1],
    ['a negative float', -3.75],
    ['an integer beyond 2^53', 2 ** 53],
    ['null', null],
    ['boolean', true],
    ['object', { amount: '1' }],
  ])('rejects %s', (_name, input) => {
    expect(AmountSchema.safeParse(input).success).toBe(false)
  })
})

describe('CurrencySchema', () => {
  it.each<[string, string]>([
    ['EUR', 'EUR'],
    ['eur', 'EUR'],
    ['uSd', 'USD'],
    ['JPY', 'JPY'],
  ])('accepts %s → %s', (input, want) => {
    expect(CurrencySchema.parse(input)).toBe(want)
  })

  it.each<[string, unknown]>([
    ['two letters', 'EU'],
    ['four letters', 'EURO'],
    ['empty', ''],
    ['digit', 'E1R'],
    ['symbol', '€'],
    ['a letter that uppercases to two (ß)', 'ßs'],
    ['spaces', ' EUR'],
    ['numeric code', '978'],
    ['number', 978],
    ['undefined', undefined],
  ])('rejects %s', (_name, input) => {
    expect(CurrencySchema.safeParse(input).success).toBe(false)
  })

  it('MoneySchema combines both', () => {
    expect(MoneySchema.parse({ amount: new JsonNumber('12.5'), currency: 'gbp' })).toEqual({ amount: '12.5', currency: 'GBP' })
    expect(MoneySchema.parse({ amount: 12, currency: 'gbp' })).toEqual({ amount: '12', currency: 'GBP' })
    expect(MoneySchema.safeParse({ amount: '12.5' }).success).toBe(false)
    expect(MoneySchema.safeParse({ amount: '1e2', currency: 'EUR' }).success).toBe(false)
  })
})

describe('sumByCurrency', () => {
  it('never adds two currencies together', () => {
    expect(
      sumByCurrency([
        { amount: '1.10', currency: 'EUR' },
        { amount: '2', currency: 'USD' },
        { amount: '0.90', currency: 'EUR' },
        { amount: '0.000000000001', currency: 'USD' },
        { amount: '500', currency: 'JPY' },
      ]),
    ).toEqual({ EUR: '2', JPY: '500', USD: '2.000000000001' })
  })

  it('orders currencies alphabetically', () => {
    const out = sumByCurrency([
      { amount: '1', currency: 'USD' },
      { amount: '1', currency: 'AUD' },
      { amount: '1', currency: 'EUR' },
    ])
    expect(Object.keys(out)).toEqual(['AUD', 'EUR', 'USD'])
  })

  it('keeps exact decimals (0.1 + 0.2 = 0.3) and negatives', () => {
    expect(
      sumByCurrency([
        { amount: '0.1', currency: 'EUR' },
        { amount: '0.2', currency: 'EUR' },
      ]),
    ).toEqual({ EUR: '0.3' })
    expect(
      sumByCurrency([
        { amount: '10', currency: 'EUR' },
        { amount: '-10.5', currency: 'EUR' },
      ]),
    ).toEqual({ EUR: '-0.5' })
  })

  it('sums large amounts at full ledger precision without exponent notation', () => {
    const big = '999999999999999999999999.999999999999'
    expect(
      sumByCurrency([
        { amount: big, currency: 'EUR' },
        { amount: big, currency: 'EUR' },
      ]),
    ).toEqual({
      EUR: '1999999999999999999999999.999999999998',
    })
  })

  it('is empty for no items and accepts any iterable', () => {
    expect(sumByCurrency([])).toEqual({})
    function* gen() {
      yield { amount: '1', currency: 'EUR' }
      yield { amount: '2', currency: 'EUR' }
    }
    expect(sumByCurrency(gen())).toEqual({ EUR: '3' })
  })

  it('addAmounts is exact', () => {
    expect(addAmounts('0.1', '0.2')).toBe('0.3')
    expect(addAmounts('100.000000000001', '-0.000000000001')).toBe('100')
  })
})

describe('the domain worked examples (docs/domain.md) as decimal arithmetic', () => {
  it('Forex per-lot rebate: 57.7 lots × $5.05 = $291.385 exactly → 291.38 half-even, 291.39 half-up', () => {
    // 57.7 × 5.05 is exactly 291.385: 291.38 half-even, not the 291.44 one industry write-up prints for it.
    const exact = new D('57.7').times('5.05')
    expect(exact.toFixed()).toBe('291.385')
    expect(roundMinor(exact, 'USD')).toBe('291.38')
    expect(roundMinor(exact, 'USD', 'half_up')).toBe('291.39')
    expect(roundMinor(exact, 'USD', 'down')).toBe('291.38')
    expect(ledgerAmount(exact)).toBe('291.385000000000')
  })

  it('Forex per-lot rebate: 57.71 lots × $5.05 = $291.4355 in the ledger → $291.44 on the statement', () => {
    const exact = new D('57.71').times('5.05')
    expect(exact.toFixed()).toBe('291.4355')
    expect(ledgerAmount(exact)).toBe('291.435500000000')
    expect(roundMinor(exact, 'USD')).toBe('291.44')
  })

  it('Forex spread share: 5 lots × $13.6 × 30% = $20.40', () => {
    expect(roundMinor(new D(5).times('13.6').times('0.30'), 'USD')).toBe('20.40')
  })

  it('tiered vs ladder on NGR 60k with bands 25%/30%/35% at 0–7.5k/7.5k–50k/50k+', () => {
    const ngr = new D(60_000)
    expect(ngr.times('0.35').toFixed()).toBe('21000')
    const bands: [D, D, string][] = [
      [new D(0), new D(7_500), '0.25'],
      [new D(7_500), new D(50_000), '0.30'],
      [new D(50_000), new D(Infinity), '0.35'],
    ]
    const parts = bands.map(([lo, hi, rate]) => D.max(0, D.min(ngr, hi).minus(lo)).times(rate))
    expect(parts.map((p) => p.toFixed())).toEqual(['1875', '12750', '3500'])
    expect(parts.reduce((a, b) => a.plus(b), new D(0)).toFixed()).toBe('18125')
  })

  it('negative carryover: −€10,000 then +€15,000 at 30% → €1,500 with carryover, €4,500 without', () => {
    const rate = new D('0.30')
    const march = new D(-10_000)
    const april = new D(15_000)
    expect(D.max(0, march.plus(april)).times(rate).toFixed()).toBe('1500')
    expect(D.max(0, april).times(rate).toFixed()).toBe('4500')
    expect(D.max(0, march).times(rate).toFixed()).toBe('0')
  })

  it('qualified CPA: (40 − 2 not meeting the baseline − 2 rejected) × $100 = $3,600', () => {
    expect(new D(40).minus(2).minus(2).times(100).toFixed()).toBe('3600')
  })

  it('clawback CPA: $21 RevShare against a $20 CPA advance pays $1 more', () => {
    expect(D.max(0, new D(21).minus(20)).toFixed()).toBe('1')
  })
})

describe('AmountSchema with JSON numbers from the lossless parser', () => {
  const amountOf = (json: string) => AmountSchema.safeParse((parseJson(json) as { amount: unknown }).amount)

  it.each<[string, string]>([
    ['99999999999999999.99', '99999999999999999.99'], // JSON.parse: 100000000000000000
    ['0.1', '0.1'],
    ['250.0', '250.0'],
    ['250.00', '250.00'],
    ['-3.75', '-3.75'],
    ['1e-7', '0.0000001'],
    ['1.5E3', '1500'],
    ['1e21', '1000000000000000000000'],
    ['123456789012345678901234.123456789012', '123456789012345678901234.123456789012'],
    ['9007199254740993', '9007199254740993'], // beyond 2^53: JSON.parse gives ...992
    ['100', '100'],
  ])('{"amount": %s} → %j, exactly', (text, want) => {
    const r = amountOf(`{"amount": ${text}}`)
    expect(r.success).toBe(true)
    expect(r.data).toBe(want)
  })

  it.each(['1.0000000000001', '1e-13', '1e25', '1234567890123456789012345.5', '1e400', '1e-400'])('refuses %s, saying to send a string', (text) => {
    const r = amountOf(`{"amount": ${text}}`)
    expect(r.success).toBe(false)
    expect(r.error!.issues[0]!.message).toMatch(/cannot be taken exactly.*send amounts as JSON strings/)
  })

  it('refuses a float with the same advice', () => {
    const r = AmountSchema.safeParse(0.1)
    expect(r.error!.issues[0]!.message).toMatch(/send amounts as JSON strings/)
  })
})

describe('canonicalAmount', () => {
  it.each<[string, string]>([
    ['250', '250'],
    ['250.0', '250'],
    ['250.00', '250'],
    ['0250.50', '250.5'],
    ['-0', '0'],
    ['-0.00', '0'],
    ['0.000000000001', '0.000000000001'],
    ['123456789012345678901234.100000000000', '123456789012345678901234.1'],
  ])('%s → %s', (a, want) => expect(canonicalAmount(a)).toBe(want))
})

describe('CurrencySchema against ISO 4217', () => {
  it.each<[string, string]>([
    ['QQQ', 'QQQ is not an ISO 4217 currency code'],
    ['xyz', 'XYZ is not an ISO 4217 currency code'],
    ['XAU', 'XAU is not an ISO 4217 currency code'], // gold: no minor unit, not money we pay in
    ['XXX', 'XXX is not an ISO 4217 currency code'],
    ['HRK', 'HRK was withdrawn from ISO 4217; use EUR'],
    ['ZWL', 'ZWL was withdrawn from ISO 4217; use ZWG'],
    ['VEF', 'VEF was withdrawn from ISO 4217; use VES'],
  ])('refuses %s: %s', (code, reason) => {
    const r = CurrencySchema.safeParse(code)
    expect(r.success).toBe(false)
    expect(r.error!.issues[0]!.message).toContain(reason)
  })

  it.each(['EUR', 'usd', 'GBP', 'JPY', 'BHD', 'CLF', 'XOF', 'XCG', 'ZWG', 'SLE', 'VED', 'UYW', 'CHE', 'BRL', 'MXN', 'AED'])('accepts %s', (code) => {
    expect(CurrencySchema.parse(code)).toBe(code.toUpperCase())
  })

  it('lists only three-letter codes with 0 to 4 decimals, none withdrawn', () => {
    const codes = Object.keys(ISO_4217)
    expect(codes.length).toBeGreaterThan(160)
    for (const c of codes) {
      expect(c).toMatch(/^[A-Z]{3}$/)
      expect([0, 2, 3, 4]).toContain(ISO_4217[c])
      expect(WITHDRAWN[c], c).toBeUndefined()
    }
  })
})
