// Adapts a joined BFT group to the handler that `group.propose(command, {bft: true})` of the
// Raft groups API delegates to: `{ propose(value, {signal}), verify(decision) }`.

import type { BftDecision, BftGroup, BftValue } from './adapter-group.ts'

/** The handler interface the Raft groups API calls for flagged (`bft: true`) proposals. */
export interface BftProposeHandler {
  propose (value: BftValue, options: { signal?: AbortSignal }): Promise<BftDecision>
  verify (decision: BftDecision): boolean
}

/** Wrap a joined BFT group as a Raft group's `bft` handler. */
export function bftProposeHandler (group: BftGroup, options: { timeoutMs?: number } = {}): BftProposeHandler {
  return {
    async propose (value, { signal } = {}) { return await group.propose(value, { signal, timeoutMs: options.timeoutMs }) },
    verify (decision) { return group.verify(decision) }
  }
}
