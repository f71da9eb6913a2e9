/** ClickHouse DateTime64(3) text (UTC) from a ms epoch: how every tier writes and binds a time. */
export function chTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 23).replace('T', ' ')
}
