// Invariant checkers over one simulated run (SPEC bft B1–B7): agreement, validity, chain
// integrity, no double-signing by honest members, and liveness after GST.

import { toHex } from '../../protocols/kit/bytes.ts'
import { verifyChain } from '../../protocols/bft/certificate.ts'
import type { Decision, Evidence } from '../../protocols/bft/messages.ts'
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
  validate: (item: Uint8Array) => boolean
  evidence: Evidence[]
  verifier: Verifier
  /** Valid items submitted to honest members, and whether all honest members committed them in time. */
  liveness: { expected: Set<string>, deadlineTick: number, doneTick: number | null }
}

/** Every invariant violated in this run, one line each (empty when the run is correct). */
export function checkRun (run: RunRecord): string[] {
  return [...checkAgreement(run), ...checkValidity(run), ...checkChains(run), ...checkNoHonestEquivocation(run), ...checkLiveness(run)]
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
