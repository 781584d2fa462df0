// Effects the bft core hands to its driver, in order, and the state the driver must persist
// (SPEC bft "Effect ordering").

import type { BftMessage, Block, Decision, Evidence, SignedMessage } from './messages.ts'
import { describeMessage, shortHash, shortId, signerOf } from './messages.ts'
import { blockHash } from './signing.ts'

/** The signing steps of a round, in the order a member signs them. */
export type SignStep = 'proposal' | 'prevote' | 'precommit'

/** Safety-critical state: written durably BEFORE any message it covers is sent (SPEC bft E1). */
export interface PersistedState {
  /** The last (height, round, step) this member signed; it never signs at or below it again. */
  signed: { height: number, round: number, step: SignStep } | null
  /** The messages signed at `signed.height` (last of each step), re-sent after a restart. */
  signedMessages: SignedMessage[]
  lockedRound: number
  lockedBlock: Block | null
  validRound: number
  validBlock: Block | null
}

const STEP_RANK: Record<SignStep, number> = { proposal: 0, prevote: 1, precommit: 2 }

/** SPEC bft B5: may a member that last signed `signed` sign at `next`? Only strictly later (height, round, step). */
export function isAfterSigned (signed: PersistedState['signed'], next: { height: number, round: number, step: SignStep }): boolean {
  if (signed === null || next.height > signed.height) return true
  if (next.height < signed.height) return false
  return next.round > signed.round || (next.round === signed.round && STEP_RANK[next.step] > STEP_RANK[signed.step])
}

/** The last committed height and its block hash (genesis hash and 0 for an empty log). */
export interface ChainHead { height: number, hash: Uint8Array }

/** One effect from `drain()`; the driver applies them in order. */
export type BftEffect =
  | { type: 'persist', state: PersistedState }
  | { type: 'broadcast', message: BftMessage }
  | { type: 'send', to: string, message: BftMessage }
  | { type: 'commit', decision: Decision }
  | { type: 'evidence', evidence: Evidence }
  | { type: 'reject', from: string, reason: string }

/** One stable line describing an effect, for logs and simulator traces. */
export function describeEffect (effect: BftEffect): string {
  switch (effect.type) {
    case 'persist': {
      const s = effect.state.signed
      return `persist signed=${s === null ? 'none' : `${s.height}/${s.round}/${s.step}`} locked=${effect.state.lockedRound}`
    }
    case 'broadcast': return `broadcast ${describeMessage(effect.message)}`
    case 'send': return `send to=${shortId(effect.to)} ${describeMessage(effect.message)}`
    case 'commit': {
      const d = effect.decision
      return `commit h=${d.block.height} r=${d.certificate.round} block=${shortHash(blockHash(d.groupId, d.block))} items=${d.block.items.length} signers=${d.certificate.signers.length}`
    }
    case 'evidence': return `evidence ${effect.evidence.first.type} h=${effect.evidence.first.height} r=${effect.evidence.first.round} by=${shortId(signerOf(effect.evidence.first))}`
    case 'reject': return `reject from=${shortId(effect.from)}: ${effect.reason}`
  }
}
