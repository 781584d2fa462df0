// ReadIndex reads of a raft core (SPEC raft R8): the leader confirms leadership with a heartbeat
// quorum before answering at its commit index; a follower forwards its reads and accepts an answer
// only from its leader, in its term, for a read it is waiting for.

import { message } from './messages.ts'
import type { Message } from './messages.ts'
import { hasQuorum } from './quorum.ts'
import { READS_PENDING_MAX } from './read-only.ts'
import { broadcastHeartbeat, dropRead, send } from './core-state.ts'
import type { CoreState } from './core-state.ts'

/** A local read request: served by the leader, forwarded by a follower, dropped without a leader. */
export function readIndex (s: CoreState, context: string): void {
  if (s.role === 'leader') handleReadIndex(s, s.id, context)
  else if (s.leader === '' || s.role !== 'follower') dropRead(s, { context, reason: 'no leader' })
  else if (s.forwardedReads.size >= READS_PENDING_MAX || s.forwardedReads.has(context)) dropRead(s, { context, reason: 'too many pending reads or a duplicate context' })
  else {
    s.forwardedReads.add(context)
    send(s, message({ type: 'readIndex', from: s.id, to: s.leader, term: 0, context }))
  }
}

/** A `readIndex` message: the leader serves it; anyone else drops a peer's (it retries). */
export function stepReadIndex (s: CoreState, m: Message): void {
  if (s.role === 'leader') handleReadIndex(s, m.from, m.context)
  else if (m.from === s.id && s.leader !== '') send(s, { ...m, to: s.leader })
}

/**
 * A `readIndexResp`: counts only from the current leader, in the current term, for a read this node
 * forwarded and is still waiting for (not a peer's guess, nor an answer meant for an old incarnation).
 */
export function stepReadIndexResponse (s: CoreState, m: Message): void {
  const expected = s.role === 'follower' && m.from === s.leader && m.term === s.term && s.forwardedReads.delete(m.context)
  if (expected) s.readStates.push({ context: m.context, index: m.index })
  else s.rejected.unexpectedReadResponse++
}

/** Leader: queue a read at the commit index and ask for a heartbeat quorum. */
export function handleReadIndex (s: CoreState, from: string, context: string): void {
  if (s.log.term(s.log.committed) !== s.term) {
    // the leader's commit index is only known to be current once an entry of its term committed
    if (!s.reads.deferUntilCommit(context, from)) dropRead(s, { context, reason: 'too many pending reads', from })
    return
  }
  const read = s.reads.add(context, from, s.log.committed, s.id)
  if (read === null) { dropRead(s, { context, reason: 'too many pending reads', from }); return }
  if (s.unsafe.readWithoutQuorum) read.acks = new Set(s.voters)
  if (hasQuorum(s.voters, read.acks)) { releaseReads(s); return }
  broadcastHeartbeat(s, read.seq)
}

/** Leader: `from` answered a heartbeat carrying read sequence `seq`. */
export function ackReads (s: CoreState, from: string, seq: number): void {
  s.reads.ack(from, seq)
  releaseReads(s)
}

/** Leader: answer every read a quorum has confirmed, in order. */
export function releaseReads (s: CoreState): void {
  for (const r of s.reads.release(s.voters)) {
    if (r.from === s.id) s.readStates.push({ context: r.context, index: r.index })
    else send(s, message({ type: 'readIndexResp', from: s.id, to: r.from, term: s.term, index: r.index, context: r.context }))
  }
}
