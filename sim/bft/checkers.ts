// Invariant checkers over one simulated run (SPEC bft B1–B7): agreement, validity, chain
// integrity, no double-signing by honest members (from evidence and from everything they sent),
// the lock rules, and liveness after GST.

import { toHex } from '../../protocols/kit/bytes.ts'
import { verifyChain } from '../../protocols/bft/certificate.ts'
import type { Decision, Evidence, SignedMessage, Vote } from '../../protocols/bft/messages.ts'
import { signerOf } from '../../protocols/bft/messages.ts'
import { blockHash } from '../../protocols/bft/signing.ts'
import type { Verifier } from '../../protocols/bft/signing.ts'

/** What the checkers look at once a run is over. */
export interface RunRecord {
  groupId: string
  members: string[]
  honest: string[]
  logs: Map<string, Decision[]>
  /** Keys of items clients submitted, and of items Byzantine proposers made up. */
  proposedItems: Set<string>
  itemKey: (item: Uint8Array) => string
  /** An item's identity (its bytes' hash): no item may be committed twice (SPEC bft B3). */
  itemId: (item: Uint8Array) => string
  validate: (item: Uint8Array) => boolean
  evidence: Evidence[]
  verifier: Verifier
  /** Every distinct signed message the members' cores produced and sent (the omniscient view). */
  signed: SignedMessage[]
  /** Quorum size of the group. */
  quorum: number
  /** Valid items submitted to honest members, and whether all honest members committed them in time. */
  liveness: { expected: Set<string>, deadlineTick: number, doneTick: number | null }
  /** The non-member: frames members sent it (must be 0), and keys of the values only it submitted. */
  nonMember?: { id: string, framesReceived: number, items: Set<string> }
}

/** Every invariant violated in this run, one line each (empty when the run is correct). */
export function checkRun (run: RunRecord): string[] {
  return [...checkAgreement(run), ...checkValidity(run), ...checkNoRecommit(run), ...checkChains(run), ...checkNoHonestEquivocation(run), ...checkHonestSigning(run), ...checkLocks(run), ...checkNonMember(run), ...checkLiveness(run)]
}

/** Committed once: no honest log holds one item (same bytes) twice, in one block or across heights. */
export function checkNoRecommit (run: RunRecord): string[] {
  const failures: string[] = []
  for (const member of run.honest) {
    const seen = new Map<string, number>()
    for (const decision of run.logs.get(member) ?? []) {
      for (const item of decision.block.items) {
        const id = run.itemId(item)
        const at = seen.get(id)
        if (at !== undefined) failures.push(`validity: ${member.slice(-6)} committed item ${id.slice(0, 8)} twice, at heights ${at} and ${decision.block.height}`)
        seen.set(id, decision.block.height)
      }
    }
  }
  return failures
}

/** A non-member learns nothing (no member sends it a frame) and gets nothing committed. */
export function checkNonMember (run: RunRecord): string[] {
  if (run.nonMember === undefined) return []
  const { framesReceived, items } = run.nonMember
  const failures: string[] = []
  if (framesReceived > 0) failures.push(`non-member: members sent ${framesReceived} frames to non-member ${run.nonMember.id.slice(-6)}`)
  for (const member of run.honest) {
    for (const decision of run.logs.get(member) ?? []) {
      for (const item of decision.block.items) if (items.has(run.itemKey(item))) failures.push(`non-member: ${member.slice(-6)} committed an item only a non-member submitted, at height ${decision.block.height}`)
    }
  }
  return failures
}

/** Agreement: honest members never commit different blocks at one height. */
export function checkAgreement (run: RunRecord): string[] {
  const byHeight = new Map<number, { hash: string, member: string }>()
  const failures: string[] = []
  for (const member of run.honest) {
    for (const decision of run.logs.get(member) ?? []) {
      const hash = toHex(blockHash(run.groupId, decision.block))
      const first = byHeight.get(decision.block.height)
      if (first === undefined) byHeight.set(decision.block.height, { hash, member })
      else if (first.hash !== hash) failures.push(`agreement: height ${decision.block.height} decided ${first.hash.slice(0, 8)} by ${first.member.slice(-6)} and ${hash.slice(0, 8)} by ${member.slice(-6)}`)
    }
  }
  return failures
}

/** Validity: every committed item passes `validate` and was submitted or proposed. */
export function checkValidity (run: RunRecord): string[] {
  const failures: string[] = []
  for (const member of run.honest) {
    for (const decision of run.logs.get(member) ?? []) {
      for (const item of decision.block.items) {
        if (!run.validate(item)) failures.push(`validity: ${member.slice(-6)} committed invalid item ${toHex(item)} at height ${decision.block.height}`)
        else if (!run.proposedItems.has(run.itemKey(item))) failures.push(`validity: ${member.slice(-6)} committed unproposed item ${toHex(item)}`)
      }
    }
  }
  return failures
}

/** Integrity: each honest member's log verifies from genesis. */
export function checkChains (run: RunRecord): string[] {
  const failures: string[] = []
  for (const member of run.honest) {
    const result = verifyChain(run.logs.get(member) ?? [], { groupId: run.groupId, members: run.members, verifier: run.verifier })
    if (!result.ok) failures.push(`integrity: log of ${member.slice(-6)}: ${result.reason}`)
  }
  return failures
}

/** No double-signing: no equivocation evidence names an honest member (restarts included). */
export function checkNoHonestEquivocation (run: RunRecord): string[] {
  const honest = new Set(run.honest)
  return run.evidence.filter(e => honest.has(signerOf(e.first)))
    .map(e => `double-sign: honest ${signerOf(e.first).slice(-6)} signed two ${e.first.type}s at height ${e.first.height} round ${e.first.round}`)
}

const hashOf = (m: SignedMessage, groupId: string): string => m.type === 'proposal' ? toHex(blockHash(groupId, m.block)) + `/${m.polRound}` : m.blockHash === null ? 'nil' : toHex(m.blockHash)

/** No double-signing, seen directly: an honest member never signed two different messages at one (height, round, step), even if no core noticed. */
export function checkHonestSigning (run: RunRecord): string[] {
  const honest = new Set(run.honest)
  const first = new Map<string, string>()
  const failures: string[] = []
  for (const m of run.signed) {
    const signer = signerOf(m)
    if (!honest.has(signer)) continue
    const key = `${signer}|${m.height}|${m.round}|${m.type}`
    const hash = hashOf(m, run.groupId)
    const seen = first.get(key)
    if (seen === undefined) first.set(key, hash)
    else if (seen !== hash) failures.push(`double-sign: honest ${signer.slice(-6)} sent two ${m.type}s at height ${m.height} round ${m.round} (seen by the simulator)`)
  }
  return failures
}

/**
 * Locks (Tendermint lines 22-36), checked against everything sent: an honest member precommits a
 * block in round r only if a quorum prevoted it in r; once it precommitted X in round r, it
 * prevotes another block Y in a later round r' only if a quorum prevoted Y in some round vr with
 * r ≤ vr < r' (a newer polka).
 */
export function checkLocks (run: RunRecord): string[] {
  const prevoters = new Map<string, Set<string>>() // height|round|hash → voters
  for (const m of run.signed) {
    if (m.type !== 'prevote' || m.blockHash === null) continue
    const key = `${m.height}|${m.round}|${toHex(m.blockHash)}`
    let voters = prevoters.get(key)
    if (voters === undefined) { voters = new Set(); prevoters.set(key, voters) }
    voters.add(m.voter)
  }
  const polka = (height: number, round: number, hash: string): boolean => (prevoters.get(`${height}|${round}|${hash}`)?.size ?? 0) >= run.quorum
  const failures: string[] = []
  const honest = new Set(run.honest)
  const byMember = new Map<string, Vote[]>()
  for (const m of run.signed) {
    if (m.type === 'proposal' || !honest.has(m.voter) || m.blockHash === null) continue
    const list = byMember.get(m.voter) ?? []
    list.push(m)
    byMember.set(m.voter, list)
  }
  for (const [member, votes] of byMember) {
    votes.sort((a, b) => a.height - b.height || a.round - b.round || (a.type === b.type ? 0 : a.type === 'prevote' ? -1 : 1))
    let lock: { height: number, round: number, hash: string } | null = null
    for (const v of votes) {
      const hash = toHex(v.blockHash!)
      if (lock !== null && lock.height !== v.height) lock = null
      if (v.type === 'precommit') {
        if (!polka(v.height, v.round, hash)) failures.push(`lock: honest ${member.slice(-6)} precommitted ${hash.slice(0, 8)} at height ${v.height} round ${v.round} without a polka`)
        lock = { height: v.height, round: v.round, hash }
      } else if (lock !== null && lock.hash !== hash && v.round > lock.round) {
        let unlocked = false
        for (let vr = lock.round; vr < v.round && !unlocked; vr++) unlocked = polka(v.height, vr, hash)
        if (!unlocked) failures.push(`lock: honest ${member.slice(-6)} locked on ${lock.hash.slice(0, 8)} in round ${lock.round} prevoted ${hash.slice(0, 8)} in round ${v.round} at height ${v.height} without a newer polka`)
      }
    }
  }
  return failures
}

/** Liveness: after GST every valid submitted item is committed by every honest member in time. */
export function checkLiveness (run: RunRecord): string[] {
  if (run.liveness.doneTick !== null) return []
  const missing: string[] = []
  for (const member of run.honest) {
    const committed = new Set((run.logs.get(member) ?? []).flatMap(d => d.block.items.map(run.itemKey)))
    const lacking = [...run.liveness.expected].filter(k => !committed.has(k)).length
    if (lacking > 0) missing.push(`${member.slice(-6)} lacks ${lacking}`)
  }
  return [`liveness: not all items committed by tick ${run.liveness.deadlineTick} (${missing.join(', ')})`]
}
