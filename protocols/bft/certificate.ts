// Verification anyone can run with just the member list (SPEC bft B2, B7): one decision's quorum
// certificate, and the whole hash-chained log from genesis.

import { bytesEqual, toHex } from '../kit/bytes.ts'
import type { Decision } from './messages.ts'
import { quorumSize } from './quorum.ts'
import { blockHash, genesisHash, voteSignBytes, type Verifier } from './signing.ts'

/** The outcome of a verification: ok, or the first check that failed. */
export type VerifyResult = { ok: true } | { ok: false, reason: string }

/** What a verifier needs: the group's members and a signature checker. */
export interface VerifyOptions { members: readonly string[], verifier: Verifier, groupId?: string }

/**
 * Check a decision: distinct member signers, at least ⌊2n/3⌋+1 of them, every signature a valid
 * precommit over (group, height, round, hash(block)). A changed value changes the hash and fails.
 */
export function verifyDecision (decision: Decision, options: VerifyOptions): VerifyResult {
  const { members, verifier } = options
  if (options.groupId !== undefined && decision.groupId !== options.groupId) return fail(`decision is for group "${decision.groupId}", expected "${options.groupId}"`)
  const { signers, signatures, round } = decision.certificate
  if (signers.length !== signatures.length) return fail(`certificate has ${signers.length} signers but ${signatures.length} signatures`)
  const memberSet = new Set(members)
  const seen = new Set<string>()
  for (const signer of signers) {
    if (!memberSet.has(signer)) return fail(`signer ${signer} is not a member`)
    if (seen.has(signer)) return fail(`signer ${signer} appears twice`)
    seen.add(signer)
  }
  const needed = quorumSize(memberSet.size)
  if (seen.size < needed) return fail(`certificate has ${seen.size} signers, needs ${needed} of ${memberSet.size}`)
  const hash = blockHash(decision.groupId, decision.block)
  const bytes = voteSignBytes({ groupId: decision.groupId, height: decision.block.height, round, type: 'precommit', blockHash: hash })
  for (let i = 0; i < signers.length; i++) {
    if (!verifier.verify(signers[i]!, bytes, signatures[i]!)) return fail(`signature of ${signers[i]} does not match height ${decision.block.height} round ${round} block ${toHex(hash).slice(0, 8)}`)
  }
  return { ok: true }
}

/**
 * Check a log from genesis: entry i is height i+1, links to the previous block's hash (genesis
 * hash first), and carries a valid certificate. Changing any byte of any entry is detected.
 */
export function verifyChain (entries: readonly Decision[], options: VerifyOptions & { groupId: string }): VerifyResult {
  let prevHash = genesisHash(options.groupId, options.members)
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!
    if (entry.block.height !== i + 1) return fail(`entry ${i} has height ${entry.block.height}, expected ${i + 1}`)
    if (!bytesEqual(entry.block.prevHash, prevHash)) return fail(`entry at height ${i + 1} does not link to the previous hash`)
    const result = verifyDecision(entry, options)
    if (!result.ok) return fail(`entry at height ${i + 1}: ${result.reason}`)
    prevHash = blockHash(entry.groupId, entry.block)
  }
  return { ok: true }
}

function fail (reason: string): VerifyResult { return { ok: false, reason } }
