// Byzantine behaviours for the BFT simulator. A faulty member runs a real core and these
// functions rewrite what it sends: equivocating proposals, double votes, forgeries and replays.

import type { Rng } from '../../protocols/kit/rng.ts'
import type { BftMessage, Decision, Proposal, SignedMessage, Vote } from '../../protocols/bft/messages.ts'
import { blockHash, proposalSignBytes, voteSignBytes } from '../../protocols/bft/signing.ts'
import type { Signer } from '../../protocols/bft/signing.ts'

/** How a simulated member behaves. Everything but `honest` counts toward f. */
export type Behaviour = 'honest' | 'equivocate' | 'double-vote' | 'silent' | 'forge-replay' | 'amnesia'

/** The faulty behaviours, rotated across seeds so each seed family covers all of them. */
export const FAULTY_BEHAVIOURS: readonly Behaviour[] = ['equivocate', 'double-vote', 'silent', 'forge-replay', 'amnesia']

/** Item bytes that the simulator's `validate` rejects (first byte 0xff). */
export function isValidSimItem (item: Uint8Array): boolean {
  return item.byteLength > 0 && item[0] !== 0xff
}

/** Per-member memory a faulty behaviour needs across messages. */
export interface FaultyState {
  /** (height|round) → the alternative block hash sent to `groupB`. */
  equivocations: Map<string, { altHash: Uint8Array, groupB: Set<string> }>
  /** Signed messages this member received, for replays and forgeries (bounded). */
  captured: SignedMessage[]
  /** Items a Byzantine proposer made up (they count as "proposed" for the validity checker). */
  fabricated: Set<string>
}

/** Captured messages kept per faulty member. */
export const CAPTURED_MAX = 256

/** Outgoing copies of `message` to `recipients` after the behaviour rewrote them. */
export function rewriteOutgoing (options: { behaviour: Behaviour, signer: Signer, state: FaultyState, rng: Rng, message: BftMessage, recipients: string[], itemKey: (item: Uint8Array) => string }): Array<{ to: string, message: BftMessage }> {
  const { behaviour, signer, state, rng, message, recipients } = options
  const plain = recipients.map(to => ({ to, message }))
  if (behaviour === 'silent') return []
  if (behaviour === 'equivocate') {
    if (message.type === 'proposal' && message.proposer === signer.id) {
      const extra = rng.chance(0.5) ? Uint8Array.from([0xff, rng.int(0, 255), rng.int(0, 255)]) : Uint8Array.from([0x42, rng.int(0, 255), rng.int(0, 255), rng.int(0, 255), 7])
      state.fabricated.add(options.itemKey(extra))
      const block = { ...message.block, items: [...message.block.items, extra] }
      const unsigned = { groupId: message.groupId, height: message.height, round: message.round, polRound: message.polRound, block, proposer: signer.id }
      const alt: Proposal = { type: 'proposal', ...unsigned, signature: signer.sign(proposalSignBytes(unsigned)), polPrevotes: [] }
      const groupB = new Set(recipients.filter(() => rng.chance(0.5)))
      state.equivocations.set(`${message.height}|${message.round}`, { altHash: blockHash(message.groupId, block), groupB })
      return recipients.map(to => ({ to, message: groupB.has(to) ? alt : message }))
    }
    if ((message.type === 'prevote' || message.type === 'precommit') && message.voter === signer.id && message.blockHash !== null) {
      const eq = state.equivocations.get(`${message.height}|${message.round}`)
      if (eq === undefined) return plain
      const alt = signVote(signer, message, eq.altHash)
      return recipients.map(to => ({ to, message: eq.groupB.has(to) ? alt : message }))
    }
    return plain
  }
  if (behaviour === 'double-vote' && (message.type === 'prevote' || message.type === 'precommit') && message.voter === signer.id) {
    const other = message.blockHash === null ? randomHash(rng) : null
    const alt = signVote(signer, message, other)
    return recipients.map(to => ({ to, message: rng.chance(0.5) ? alt : message }))
  }
  return plain
}

/** Extra traffic a forge-replay member injects on a tick: replays, forged signatures, tampered decisions. */
export function injectForgeries (options: { state: FaultyState, rng: Rng, members: string[], self: string, lastDecision: Decision | undefined }): Array<{ to: string, message: BftMessage }> {
  const { state, rng, members, self } = options
  const out: Array<{ to: string, message: BftMessage }> = []
  const others = members.filter(m => m !== self)
  const to = others[rng.int(0, others.length - 1)]!
  const captured = state.captured.length > 0 ? state.captured[rng.int(0, state.captured.length - 1)]! : undefined
  if (captured !== undefined && rng.chance(0.3)) out.push({ to, message: captured }) // replay, valid signature
  if (captured !== undefined && captured.type !== 'proposal' && rng.chance(0.3)) {
    const variant = rng.int(0, 2)
    const forged: Vote = variant === 0
      ? { ...captured, blockHash: randomHash(rng) } // changed content, old signature
      : variant === 1
        ? { ...captured, voter: others[rng.int(0, others.length - 1)]! } // claims another signer
        : { ...captured, signature: randomBytes(rng, 64) } // garbage signature
    out.push({ to, message: forged })
  }
  if (options.lastDecision !== undefined && rng.chance(0.1)) {
    const d = options.lastDecision
    const tampered: Decision = { ...d, block: { ...d.block, items: [...d.block.items, Uint8Array.from([0x42, 0x42])] } }
    out.push({ to, message: { type: 'decision', groupId: d.groupId, decisions: [tampered] } })
  }
  return out
}

function signVote (signer: Signer, vote: Vote, blockHashValue: Uint8Array | null): Vote {
  const unsigned = { groupId: vote.groupId, height: vote.height, round: vote.round, type: vote.type, blockHash: blockHashValue }
  return { ...unsigned, voter: signer.id, signature: signer.sign(voteSignBytes(unsigned)) }
}

function randomHash (rng: Rng): Uint8Array { return randomBytes(rng, 32) }

function randomBytes (rng: Rng, length: number): Uint8Array {
  const bytes = new Uint8Array(length)
  for (let i = 0; i < length; i++) bytes[i] = rng.int(0, 255)
  return bytes
}
