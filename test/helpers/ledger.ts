/** Ledger lines for tests: one line with defaults (a payable EUR CPA of deal d1), and a chain. */
import { chain, GENESIS, type ChainedLine, type LedgerLine } from '../../common/ledger.js'

export function ledgerLine(i: number, over: Partial<LedgerLine> & { amount: string }): LedgerLine {
  return {
    id: `cpa:p${i}:d1`,
    affiliateId: 7,
    seq: i,
    idx: 0,
    n: 0,
    occurredAt: Date.UTC(2026, 10, 15),
    period: '2026-11',
    kind: 'cpa',
    dealId: 'd1',
    dealVersion: 1,
    playerKey: `p${i}`,
    playerRef: `r${i}`,
    causeEventId: `e${i}`,
    status: 'payable',
    originalAmount: over.amount,
    originalCurrency: over.currency ?? 'EUR',
    currency: 'EUR',
    fxRate: '1',
    fxDate: '2026-11-15',
    estimated: false,
    reason: 'test',
    ...over,
  }
}

/** Lines chained and numbered from 1, as an affiliate's ledger holds them. */
export function chained(ls: readonly LedgerLine[]): (ChainedLine & { no: number })[] {
  let head = GENESIS
  return ls.map((l, i) => {
    const c = chain(head, l)
    head = c.hash
    return { ...c, no: i + 1 }
  })
}
