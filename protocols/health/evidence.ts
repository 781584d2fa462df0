// How many members the table's evidence supports (SPEC health H9, H10): peers we heard
// directly count one each; peers we only heard through relays count as far as several
// relays corroborate such numbers, so one relay inventing a thousand ids adds nothing.

import { assert } from '../kit/assert.ts'

/**
 * Relays that must vouch for a number of peers before it counts in full: every relay's count
 * is capped at the third-largest relay's. GossipSub delivers through D=6 mesh peers, so an
 * honest mesh spreads its relayed peers over about six relays and the cap barely bites; a
 * stranger needs three connections to one node, each vouching for as many ids, to move it.
 */
export const HEALTH_RELAYS_CORROBORATING = 3

/**
 * The member count H9 stretches the announce interval by: `direct` (peers heard directly,
 * including this node) plus, per relay, its relayed peers capped at the `corroborating`-th
 * largest relay count (0 when fewer relays vouch for anyone).
 */
export function corroboratedMemberCount (direct: number, relayed: { perRelay: readonly number[], corroborating: number }): number {
  const { perRelay, corroborating } = relayed
  assert(Number.isInteger(direct) && direct >= 0, `direct count is a non-negative integer (${direct})`)
  assert(Number.isInteger(corroborating) && corroborating >= 1, `corroborating is a positive integer (${corroborating})`)
  const sorted = [...perRelay].sort((a, b) => b - a)
  const cap = sorted[corroborating - 1] ?? 0
  let total = direct
  for (const count of sorted) {
    assert(Number.isInteger(count) && count >= 0, `relay counts are non-negative integers (${count})`)
    total += Math.min(count, cap)
  }
  return total
}
