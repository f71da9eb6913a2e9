/** Reference data that changes over time, as a list of entries each in force from its time. */

/** The entry in force at `at`: the latest whose `from` ≤ at; before the first, the first
 *  (what an entity was when it was created). */
export function historyAt<T extends { from: number }>(h: readonly T[], at: number): T | undefined {
  let found = h[0]
  for (const x of h) if (x.from <= at) found = x
  return found
}
