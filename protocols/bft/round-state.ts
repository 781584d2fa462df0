// Per-round bookkeeping of one height: the proposal, prevotes and precommits by member, vote
// tallies per block hash, and equivocation detection (SPEC bft B4). Pure data, no signing.

import { bytesEqual, toHex } from '../kit/bytes.ts'
import type { Evidence, Proposal, Vote } from './messages.ts'
import { signerOf } from './messages.ts'

/** Tally key of a vote's block hash: hex, or "nil". */
export function hashKey (hash: Uint8Array | null): string {
  return hash === null ? 'nil' : toHex(hash)
}

/** Outcome of recording a signed message. */
export type RecordResult = 'added' | 'duplicate' | { evidence: Evidence }

/** Everything seen in one round of the current height. */
export class RoundState {
  readonly round: number
  proposal: { message: Proposal, hashKey: string, polProven: boolean } | null = null
  readonly prevotes = new Map<string, Vote>()
  readonly precommits = new Map<string, Vote>()
  readonly prevoteTally = new Map<string, number>()
  readonly precommitTally = new Map<string, number>()
  /** Rule flags, so each "upon … for the first time" fires once (SPEC bft T4, T5, T7). */
  prevoteTimerStarted = false
  precommitTimerStarted = false
  polkaHandled = false
  /** Voters we already sent our proposal to after they voted for another hash (SPEC bft B4). */
  readonly relayedTo = new Set<string>()

  constructor (round: number) { this.round = round }

  /** Record the proposal from the round's proposer; a second, different one is equivocation. */
  recordProposal (message: Proposal, key: string): RecordResult {
    if (this.proposal === null) { this.proposal = { message, hashKey: key, polProven: false }; return 'added' }
    const first = this.proposal.message
    if (this.proposal.hashKey === key && first.polRound === message.polRound) return 'duplicate'
    return { evidence: { type: 'evidence', first, second: message } }
  }

  /** Record a vote; only a member's first vote per type counts, a conflicting second is evidence. */
  recordVote (vote: Vote): RecordResult {
    const votes = vote.type === 'prevote' ? this.prevotes : this.precommits
    const tally = vote.type === 'prevote' ? this.prevoteTally : this.precommitTally
    const existing = votes.get(vote.voter)
    if (existing !== undefined) {
      if (sameHash(existing.blockHash, vote.blockHash)) return 'duplicate'
      return { evidence: { type: 'evidence', first: existing, second: vote } }
    }
    votes.set(vote.voter, vote)
    const key = hashKey(vote.blockHash)
    tally.set(key, (tally.get(key) ?? 0) + 1)
    return 'added'
  }
}

function sameHash (a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b
  return bytesEqual(a, b)
}

/** True when two signed messages by one member at one (height, round, type) conflict. */
export function isConflicting (evidence: Evidence): boolean {
  const { first, second } = evidence
  if (first.type !== second.type || first.groupId !== second.groupId) return false
  if (first.height !== second.height || first.round !== second.round) return false
  if (signerOf(first) !== signerOf(second)) return false
  if (first.type === 'proposal' && second.type === 'proposal') {
    return first.polRound !== second.polRound || !blocksEqual(first, second)
  }
  return !sameHash((first as Vote).blockHash, (second as Vote).blockHash)
}

function blocksEqual (a: Proposal, b: Proposal): boolean {
  if (a.block.height !== b.block.height || !bytesEqual(a.block.prevHash, b.block.prevHash)) return false
  if (a.block.items.length !== b.block.items.length) return false
  return a.block.items.every((item, i) => bytesEqual(item, b.block.items[i]!))
}
