// Majority quorum maths (SPEC raft R2, R5): the committed index of a voter set and the outcome
// of an election. Pure and small so it can be table-tested on its own (as etcd's quorum/).

/** Outcome of counting votes. */
export type VoteResult = 'won' | 'lost' | 'pending'

/** Size of a majority of `voterCount` voters. */
export function majority (voterCount: number): number {
  return Math.floor(voterCount / 2) + 1
}

/**
 * The highest index that a majority of `voters` has acknowledged, given each voter's match
 * index (a voter missing from `matchOf` counts as 0). An empty voter set commits nothing.
 */
export function committedIndex (voters: readonly string[], matchOf: (id: string) => number): number {
  if (voters.length === 0) return 0
  const matches = voters.map(matchOf).sort((a, b) => b - a)
  return matches[majority(voters.length) - 1]!
}

/** Count granted and rejected votes among `voters`; votes from non-voters are ignored. */
export function voteResult (voters: readonly string[], votes: ReadonlyMap<string, boolean>): VoteResult {
  let granted = 0
  let rejected = 0
  for (const id of voters) {
    const v = votes.get(id)
    if (v === true) granted++
    else if (v === false) rejected++
  }
  const need = majority(voters.length)
  if (granted >= need) return 'won'
  if (voters.length - rejected < need) return 'lost'
  return 'pending'
}

/** True when the ids in `acks` (plus nothing else) form a majority of `voters`. */
export function hasQuorum (voters: readonly string[], acks: ReadonlySet<string>): boolean {
  let n = 0
  for (const id of voters) if (acks.has(id)) n++
  return n >= majority(voters.length)
}
