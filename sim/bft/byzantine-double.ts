// A Byzantine test double for REAL nodes: an OutboundRewrite for `joinWithSeams(node.bft, …, {seams: {rewrite}})`
// that makes a member running the real core equivocate as proposer and double-vote, deterministically.

import type { BftMessage, Proposal, Vote } from '../../protocols/bft/messages.ts'
import { proposalSignBytes, voteSignBytes } from '../../protocols/bft/signing.ts'
import type { Signer } from '../../protocols/bft/signing.ts'
import type { OutboundRewrite } from '../../protocols/bft/adapter-group.ts'
import { encodeCbor } from '../../protocols/kit/cbor.ts'

/** What the double does: `equivocate` (conflicting proposals to two halves), `double-vote` (every vote twice, conflicting), `both`, or `silent`. */
export type ByzantineMode = 'equivocate' | 'double-vote' | 'both' | 'silent'

/** An extra, well-formed item (`[16-byte nonce, value]` like real items) that the proposer slips into its second proposal. */
function forkItem (height: number, round: number): Uint8Array {
  return encodeCbor([new Uint8Array(16).fill(0xee), { fork: `${height}/${round}` }, height])
}

function signVote (signer: Signer, vote: Vote, blockHash: Uint8Array | null): Vote {
  const unsigned = { groupId: vote.groupId, height: vote.height, round: vote.round, type: vote.type, blockHash }
  return { ...unsigned, voter: signer.id, signature: signer.sign(voteSignBytes(unsigned)) }
}

/**
 * The rewrite: as proposer, the first half of the recipients (by sorted id) gets the real
 * proposal and the second half a different, valid block signed for the same (height, round);
 * every own vote is followed by a conflicting one (nil ↔ the block) to every recipient.
 */
export function byzantineRewrite (mode: ByzantineMode): OutboundRewrite {
  return (message: BftMessage, recipients: string[], signer: Signer) => {
    if (mode === 'silent') return []
    const plain = recipients.map(to => ({ to, message }))
    if ((mode === 'equivocate' || mode === 'both') && message.type === 'proposal' && message.proposer === signer.id) {
      const block = { ...message.block, items: [...message.block.items, forkItem(message.height, message.round)] }
      const unsigned = { groupId: message.groupId, height: message.height, round: message.round, polRound: message.polRound, block, proposer: signer.id }
      const alt: Proposal = { type: 'proposal', ...unsigned, signature: signer.sign(proposalSignBytes(unsigned)), polPrevotes: message.polPrevotes }
      const sorted = [...recipients].sort()
      const half = Math.ceil(sorted.length / 2)
      return sorted.map((to, i) => ({ to, message: i < half ? message : alt }))
    }
    if ((mode === 'double-vote' || mode === 'both') && (message.type === 'prevote' || message.type === 'precommit') && message.voter === signer.id) {
      const other = message.blockHash === null ? new Uint8Array(32).fill(0xab) : null
      const alt = signVote(signer, message, other)
      return recipients.flatMap(to => [{ to, message }, { to, message: alt }])
    }
    return plain
  }
}
