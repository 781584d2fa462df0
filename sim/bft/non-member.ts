// A non-member in the BFT simulator: a peer with a valid key that is not in the group but speaks
// the protocol to its members (SPEC bft "Threat model"). It asks for catch-up, gossips items,
// signs its own proposals and votes, and relays members' real signed messages. Members must drop
// all of it (and count it), never answer it, and never commit anything only it submitted.

import type { Rng } from '../../protocols/kit/rng.ts'
import { encodeCbor } from '../../protocols/kit/cbor.ts'
import type { BftMessage, Proposal, SignedMessage, Vote } from '../../protocols/bft/messages.ts'
import { genesisHash, proposalSignBytes, voteSignBytes, type Signer } from '../../protocols/bft/signing.ts'

/** Chance per tick that the non-member sends something. */
export const NON_MEMBER_SEND_CHANCE = 0.3

/** The outsider of one run. */
export class NonMember {
  readonly id: string
  /** Values it gossiped: none may ever be committed. */
  readonly values = new Set<Uint8Array>()
  framesSent = 0
  readonly #signer: Signer
  readonly #groupId: string
  readonly #members: readonly string[]
  readonly #rng: Rng
  /** Its signed proposal and vote per height: signing is the costly part, and one of each per height is enough. */
  #signedAt = new Map<number, { proposal: Proposal, vote: Vote }>()

  constructor (options: { signer: Signer, groupId: string, members: readonly string[], rng: Rng }) {
    this.#signer = options.signer
    this.id = options.signer.id
    this.#groupId = options.groupId
    this.#members = options.members
    this.#rng = options.rng
  }

  /** What it sends this tick, given the group's height and some members' signed messages it overheard. */
  tick (height: number, overheard: readonly SignedMessage[]): Array<{ to: string, message: BftMessage }> {
    const rng = this.#rng
    if (!rng.chance(NON_MEMBER_SEND_CHANCE)) return []
    const to = this.#members[rng.int(0, this.#members.length - 1)]!
    const groupId = this.#groupId
    const value = Uint8Array.from([0x77, rng.int(0, 255), rng.int(0, 255), rng.int(0, 255)])
    const item = encodeCbor([Uint8Array.from({ length: 16 }, () => rng.int(0, 255)), value, height]) // a well-formed driver item
    let message: BftMessage
    switch (rng.int(0, 5)) {
      case 0: message = { type: 'status', groupId, height: 1 }; break // "send me your log"
      case 1: this.values.add(value); message = { type: 'submit', groupId, items: [item] }; break
      case 2: message = this.#signed(height, value, item).vote; break
      case 3: message = this.#signed(height, value, item).proposal; break
      case 4: {
        const relayed = overheard[rng.int(0, Math.max(0, overheard.length - 1))]
        message = relayed ?? { type: 'status', groupId, height }
        break
      }
      default: message = { type: 'status', groupId, height: Math.max(1, height - rng.int(1, 70)) }
    }
    this.framesSent++
    return [{ to, message }]
  }

  #signed (height: number, value: Uint8Array, item: Uint8Array): { proposal: Proposal, vote: Vote } {
    let signed = this.#signedAt.get(height)
    if (signed !== undefined) return signed
    const groupId = this.#groupId
    this.values.add(value)
    const unsignedVote = { groupId, height, round: 0, type: this.#rng.chance(0.5) ? 'prevote' as const : 'precommit' as const, blockHash: this.#rng.chance(0.5) ? null : genesisHash(groupId, [this.id]) }
    const vote: Vote = { ...unsignedVote, voter: this.id, signature: this.#signer.sign(voteSignBytes(unsignedVote)) }
    const unsigned = { groupId, height, round: this.#rng.int(0, 2), polRound: -1, block: { height, prevHash: genesisHash(groupId, this.#members), items: [item] }, proposer: this.id }
    const proposal: Proposal = { type: 'proposal', ...unsigned, signature: this.#signer.sign(proposalSignBytes(unsigned)), polPrevotes: [] }
    signed = { proposal, vote }
    this.#signedAt.clear() // only the current height's
    this.#signedAt.set(height, signed)
    return signed
  }
}
