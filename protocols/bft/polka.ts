// Checking the polka a re-proposal carries (SPEC bft T3): a quorum of valid prevotes by distinct
// members for the proposed block in `polRound`. Pure; signatures go through the injected verifier.

import type { Proposal, Vote } from './messages.ts'
import { hashKey } from './round-state.ts'
import { blockHash, verifySigned, type Verifier } from './signing.ts'

/** The valid, distinct prevotes for the proposed block, or why the set was refused. */
export type PolkaCheck = { votes: Vote[] } | { error: string }

/** Verify `proposal.polPrevotes`; any vote for another round, by a non-member or badly signed refuses the set. */
export function checkPolPrevotes (proposal: Proposal, options: { groupId: string, members: ReadonlySet<string>, verifier: Verifier }): PolkaCheck {
  const key = hashKey(blockHash(options.groupId, proposal.block))
  const votes: Vote[] = []
  const voters = new Set<string>()
  for (const vote of proposal.polPrevotes) {
    if (vote.height !== proposal.height || vote.round !== proposal.polRound || vote.type !== 'prevote' || vote.groupId !== options.groupId) return { error: 'polPrevote for another round' }
    if (!options.members.has(vote.voter)) return { error: `polPrevote by non-member ${vote.voter}` }
    if (hashKey(vote.blockHash) !== key || voters.has(vote.voter)) continue
    if (!verifySigned(vote, options.verifier)) return { error: `bad signature on polPrevote by ${vote.voter}` }
    voters.add(vote.voter)
    votes.push(vote)
  }
  return { votes }
}
