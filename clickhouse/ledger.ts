/**
 * The ledger's lines as they stand now, in SQL: the rule of common/line-status.ts (a pending
 * line whose hold ended is payable; a reversal counts where the line it reverses counts), so
 * that payable + pending + held always equals what is accrued.
 */

/** `status` as it is now, of the lines aliased `t`. */
function nowStatus(t: string): string {
  return `if(${t}.status = 'pending' AND ${t}.payable_at IS NOT NULL AND ${t}.payable_at <= now64(3), 'payable', ${t}.status)`
}

/**
 * A FROM item, aliased `t`: the lines of one affiliate (`affiliate` is a SQL expression such as
 * a query parameter; all affiliates when undefined), each once (the table may hold a line twice
 * until it merges), with every column and `now_status`.
 */
export function linesNow(affiliate: string | undefined): string {
  const of = affiliate === undefined ? '1' : `affiliate_id = ${affiliate}`
  return `(
  SELECT t.*, multiIf(t.status = 'reversed' AND r.status != '', ${nowStatus('r')}, t.status = 'reversed', 'payable', ${nowStatus('t')}) AS now_status
  FROM (SELECT * FROM ledger_lines FINAL WHERE ${of}) AS t
  LEFT JOIN (SELECT affiliate_id, line_id, status, payable_at FROM ledger_lines FINAL
             WHERE ${of} AND line_id IN (SELECT ref_line_id FROM ledger_lines WHERE ${of} AND status = 'reversed')) AS r
    ON r.affiliate_id = t.affiliate_id AND r.line_id = t.ref_line_id) AS t`
}
