// Adapts a joined BFT group to the handler that `group.propose(command, {bft: true})` of the
// Raft groups API delegates to: `{ propose(value, {signal}), verify(decision) }`.

import type { BftDecision, BftGroup, BftValue } from './adapter-group.ts'

/** The handler interface the Raft groups API calls for flagged (`bft: true`) proposals. */
export interface BftProposeHandler {
  propose (value: BftValue, options: { signal?: AbortSignal }): Promise<BftDecision>
  /** Accepts anything: a value that is not a well-formed decision of this group is `false`. */
  verify (decision: unknown): boolean
}

/**
 * Wrap a joined BFT group as the handler of `group.propose(c, {bft: true})`, e.g.
 * `node.groups.useBft(bftProposeHandler(await node.bft.join('ledger', { members })))`.
 * The handler is bound to that one BFT group: flagged proposals of any Raft group go to it.
 */
export function bftProposeHandler (group: BftGroup, options: { timeoutMs?: number } = {}): BftProposeHandler {
  return {
    async propose (value, { signal } = {}) { return await group.propose(value, { signal, timeoutMs: options.timeoutMs }) },
    verify (decision) { return group.verify(decision as BftDecision) }
  }
}
