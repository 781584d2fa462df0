// Byzantine behaviours for the BFT simulator. A faulty member runs a real core and these
// functions rewrite what it sends: equivocating proposals, double votes, forgeries and replays.

import type { Rng } from '../../protocols/kit/rng.ts'
import { fromHex, toHex } from '../../protocols/kit/bytes.ts'
import type { BftMessage, Block, Decision, Proposal, SignedMessage, Vote } from '../../protocols/bft/messages.ts'
import { blockHash, proposalSignBytes, voteSignBytes } from '../../protocols/bft/signing.ts'
import type { Signer } from '../../protocols/bft/signing.ts'
import { encodeCbor } from '../../protocols/kit/cbor.ts'

/**
 * How a simulated member behaves. Everything but `honest` counts toward f. `amnesia` loses all
 * state (log included) once; `amnesia-lock` keeps its log but forgets its signing state and locks
 * at random moments (the Tendermint "amnesia attack": it re-votes rounds it already voted in and
 * prevotes against its own lock). `recommit`, as proposer, adds an item the group already
 * committed to its block (SPEC bft B3: honest members must refuse it).
 */
export type Behaviour = 'honest' | 'equivocate' | 'double-vote' | 'silent' | 'forge-replay' | 'amnesia' | 'amnesia-lock' | 'recommit'

/** The faulty behaviours, rotated across seeds so each seed family covers all of them. */
export const FAULTY_BEHAVIOURS: readonly Behaviour[] = ['equivocate', 'double-vote', 'silent', 'forge-replay', 'amnesia', 'amnesia-lock', 'recommit']

/** Chance per tick that an `amnesia-lock` member forgets its signing state and locks. */
export const AMNESIA_LOCK_CHANCE = 0.02

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
  /**
   * Shared by all faulty members of a run (they collude): "height|round" → hex hashes of the
   * proposals any of them made or saw, so a double voter signs for a real competing block.
   */
  coalition: Map<string, Set<string>>
  /** Items this member saw committed (the newest COMMITTED_KEPT), for `recommit`. */
  committed: Uint8Array[]
}

/** Committed items a `recommit` member keeps to re-propose. */
export const COMMITTED_KEPT = 64

/** Remember a decision's items (a faulty member's own log). */
export function rememberCommitted (state: FaultyState, decision: Decision): void {
  state.committed.push(...decision.block.items)
  if (state.committed.length > COMMITTED_KEPT) state.committed.splice(0, state.committed.length - COMMITTED_KEPT)
}

/** Fresh per-member faulty state around the run's shared coalition map. */
export function newFaultyState (coalition: Map<string, Set<string>>): FaultyState {
  return { equivocations: new Map(), captured: [], fabricated: new Set(), coalition, committed: [] }
}

/** Tell the coalition about a proposal a faulty member made or received. */
export function shareProposal (state: FaultyState, proposal: Proposal): void {
  const key = `${proposal.height}|${proposal.round}`
  let hashes = state.coalition.get(key)
  if (hashes === undefined) { hashes = new Set(); state.coalition.set(key, hashes) }
  hashes.add(toHex(blockHash(proposal.groupId, proposal.block)))
}

/** Captured messages kept per faulty member. */
export const CAPTURED_MAX = 256

/** Outgoing copies of `message` to `recipients` after the behaviour rewrote them. */
export function rewriteOutgoing (options: { behaviour: Behaviour, signer: Signer, state: FaultyState, rng: Rng, message: BftMessage, recipients: string[], itemKey: (item: Uint8Array) => string }): Array<{ to: string, message: BftMessage }> {
  const { behaviour, signer, state, rng, message, recipients } = options
  const plain = recipients.map(to => ({ to, message }))
  if (behaviour === 'silent') return []
  if (behaviour === 'recommit' && message.type === 'proposal' && message.proposer === signer.id && message.polRound === -1 && state.committed.length > 0) {
    // The same proposal to everyone, plus an already committed item: it must never commit again.
    const again = state.committed[rng.int(0, state.committed.length - 1)]!
    const block = { ...message.block, items: [...message.block.items, again] }
    const unsigned = { groupId: message.groupId, height: message.height, round: message.round, polRound: -1, block, proposer: signer.id }
    const proposal: Proposal = { type: 'proposal', ...unsigned, signature: signer.sign(proposalSignBytes(unsigned)), polPrevotes: [] }
    return recipients.map(to => ({ to, message: proposal }))
  }
  if (behaviour === 'equivocate') {
    if (message.type === 'proposal' && message.proposer === signer.id) {
      // A well-formed driver item ([nonce, value, lastHeight]); its value is invalid half the time.
      const value = rng.chance(0.5) ? Uint8Array.from([0xff, rng.int(0, 255), rng.int(0, 255)]) : Uint8Array.from([0x42, rng.int(0, 255), rng.int(0, 255), rng.int(0, 255), 7])
      const extra = encodeCbor([randomBytes(rng, 16), value, message.height])
      state.fabricated.add(options.itemKey(extra))
      const block = { ...message.block, items: [...message.block.items, extra] }
      // The alternative claims no polka (polRound -1): it attacks locks, since only a member that
      // forgot or ignored its lock from an earlier round would prevote it.
      const unsigned = { groupId: message.groupId, height: message.height, round: message.round, polRound: -1, block, proposer: signer.id }
      const alt: Proposal = { type: 'proposal', ...unsigned, signature: signer.sign(proposalSignBytes(unsigned)), polPrevotes: [] }
      const groupB = new Set(recipients.filter(() => rng.chance(0.5)))
      state.equivocations.set(`${message.height}|${message.round}`, { altHash: blockHash(message.groupId, block), groupB })
      shareProposal(state, message)
      shareProposal(state, alt)
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
    // Collude: vote for a competing block the coalition knows of at this (height, round), if any.
    const own = message.blockHash === null ? 'nil' : toHex(message.blockHash)
    const competing = [...(state.coalition.get(`${message.height}|${message.round}`) ?? [])].filter(h => h !== own)
    const other = competing.length > 0 ? fromHex(competing[rng.int(0, competing.length - 1)]!) : message.blockHash === null ? randomHash(rng) : null
    const alt = signVote(signer, message, other)
    return recipients.map(to => ({ to, message: rng.chance(0.5) ? alt : message }))
  }
  return plain
}

/** Extra traffic a forge-replay member injects on a tick: replays, forged signatures, tampered decisions. */
export function injectForgeries (options: { state: FaultyState, rng: Rng, members: string[], self: string, lastDecision: Decision | undefined, signer?: Signer, next?: { groupId: string, block: Block, quorum: number } }): Array<{ to: string, message: BftMessage }> {
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
  if (options.next !== undefined && rng.chance(0.1)) out.push({ to, message: { type: 'decision', groupId: options.next.groupId, decisions: [forgeCertificate(options, state, rng)] } })
  return out
}

/**
 * A made-up decision for the height the forger is deciding (where honest members are too), with a
 * certificate that must not verify: its own precommit repeated (duplicate signers), a non-member
 * signer, real precommits of other members over another block or round, or too few signers.
 */
function forgeCertificate (options: { rng: Rng, members: string[], self: string, signer?: Signer, next?: { groupId: string, block: Block, quorum: number } }, state: FaultyState, rng: Rng): Decision {
  const { block, groupId, quorum } = options.next!
  const hash = blockHash(groupId, block)
  const round = rng.int(0, 3)
  const own = options.signer!.sign(voteSignBytes({ groupId, height: block.height, round, type: 'precommit', blockHash: hash }))
  const precommits = state.captured.filter((m): m is Vote => m.type === 'precommit' && m.blockHash !== null && m.voter !== options.self)
  const others = [...new Map(precommits.map(v => [v.voter, v])).values()]
  const variant = rng.int(0, 3)
  const signers: string[] = [options.self]
  const signatures: Uint8Array[] = [own]
  if (variant === 0) while (signers.length < quorum) { signers.push(options.self); signatures.push(own) } // duplicate signer
  else if (variant === 1) { signers.push('12D3KooWForgedNonMemberSignerXXXXXXXXXXXXXXXXXXXX'); signatures.push(randomBytes(rng, 64)) } // non-member
  else if (variant === 2) for (const v of others.slice(0, quorum - 1)) { signers.push(v.voter); signatures.push(v.signature) } // real signatures over another block/round
  // variant 3: too few signers (just its own)
  while (variant === 1 && signers.length < quorum) { const m = options.members.find(x => !signers.includes(x))!; signers.push(m); signatures.push(randomBytes(rng, 64)) }
  return { groupId, block, certificate: { round, signers, signatures } }
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
