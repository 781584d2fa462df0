// What gets signed and hashed (SPEC bft "Signed bytes"): domain-separated deterministic CBOR
// tuples, so the libp2p adapter and the simulator produce byte-identical signatures.

import { domainSigningBytes } from '../kit/signing.ts'
import type { SigningDomain } from '../kit/signing.ts'
import { sha256 } from '../kit/bytes.ts'
import type { Block, Proposal, SignedMessage, Vote, VoteType } from './messages.ts'

/** Domain tags: a signature for one purpose can never be replayed as another. */
export const DOMAIN_PROPOSAL: SigningDomain = 'agentmesh/bft/proposal/v1'
export const DOMAIN_VOTE: SigningDomain = 'agentmesh/bft/vote/v1'
export const DOMAIN_BLOCK: SigningDomain = 'agentmesh/bft/block/v1'
export const DOMAIN_GENESIS: SigningDomain = 'agentmesh/bft/genesis/v1'

/** Signs bytes with this member's key (Ed25519 in the adapter and simulator). */
export interface Signer {
  /** This member's libp2p peer id string. */
  readonly id: string
  sign (bytes: Uint8Array): Uint8Array
}

/** Checks a signature by a member, identified by peer id (Ed25519 peer ids embed the public key). */
export interface Verifier {
  verify (signer: string, bytes: Uint8Array, signature: Uint8Array): boolean
}

/** SHA-256 of a block within its group: the value hash that votes and certificates sign. */
export function blockHash (groupId: string, block: Block): Uint8Array {
  // Never cached by object: a caller may mutate a block in place, and verification must see it.
  return sha256(domainSigningBytes(DOMAIN_BLOCK, [groupId, block.height, block.prevHash, block.items]))
}

/** The `prevHash` of height 1: binds the log to its group id and member list. */
export function genesisHash (groupId: string, members: readonly string[]): Uint8Array {
  return sha256(domainSigningBytes(DOMAIN_GENESIS, [groupId, [...members].sort()]))
}

/** Bytes a proposer signs for a proposal. */
export function proposalSignBytes (p: Omit<Proposal, 'signature' | 'type' | 'polPrevotes'>): Uint8Array {
  return domainSigningBytes(DOMAIN_PROPOSAL, [p.groupId, p.height, p.round, p.polRound, blockHash(p.groupId, p.block)])
}

/** Bytes a voter signs for a prevote or precommit. */
export function voteSignBytes (v: { groupId: string, height: number, round: number, type: VoteType, blockHash: Uint8Array | null }): Uint8Array {
  return domainSigningBytes(DOMAIN_VOTE, [v.groupId, v.height, v.round, v.type, v.blockHash])
}

/** Bytes signed by a signed message's author. */
export function signBytesOf (message: SignedMessage): Uint8Array {
  return message.type === 'proposal' ? proposalSignBytes(message) : voteSignBytes(message as Vote)
}

/** Verify the signature on a proposal or vote against its claimed author. */
export function verifySigned (message: SignedMessage, verifier: Verifier): boolean {
  const signer = message.type === 'proposal' ? message.proposer : message.voter
  return verifier.verify(signer, signBytesOf(message), message.signature)
}
