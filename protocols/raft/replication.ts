// Log replication of a raft core (SPEC raft R3, R4, R7, R10): proposals at the leader, appends and
// snapshots to followers with flow control, the commit rule, and the follower's side of it all.

import { assert } from '../kit/assert.ts'
import { APPEND_BYTES_MAX, message } from './messages.ts'
import type { Entry, Message } from './messages.ts'
import type { Progress } from './progress.ts'
import { committedIndex } from './quorum.ts'
import { applyConfChanges, confChangeRefusal } from './membership.ts'
import { ackReads, handleReadIndex } from './reads.ts'
import { drop, send, sortedUnique } from './core-state.ts'
import type { CoreState } from './core-state.ts'

/** Uncommitted entries a leader accepts before dropping proposals: bounds memory while a quorum is away. */
export const UNCOMMITTED_ENTRIES_MAX = 4096

// ---- commit ------------------------------------------------------------------------------

/** Raise the commit index to `index` and apply the membership changes it commits (SPEC raft R9). */
export function commitTo (s: CoreState, index: number): void {
  const old = s.log.committed
  if (!s.log.commitTo(index)) return
  if (applyConfChanges(s, old, index) && maybeCommit(s)) broadcastAppend(s)
}

/** SPEC raft R3: commit the majority-acknowledged index only if it is from the current term. */
export function maybeCommit (s: CoreState): boolean {
  const index = committedIndex(s.voters, (id) => s.progress.get(id)?.match ?? 0)
  if (index <= s.log.committed || (s.log.term(index) !== s.term && !s.unsafe.commitOldTerm)) return false
  commitTo(s, index)
  if (s.role === 'leader') for (const r of s.reads.takeDeferred()) handleReadIndex(s, r.from, r.context)
  return true
}

// ---- proposals (SPEC raft R10) -----------------------------------------------------------

/** A `prop` (local or forwarded): the leader appends, a follower forwards its own once, others drop. */
export function stepProposal (s: CoreState, m: Message): void {
  if (s.role !== 'leader') {
    // forward once (all entries in one message): a proposal that reaches a non-leader from a peer is dropped, not bounced
    if (s.leader !== '' && m.from === s.id) send(s, message({ type: 'prop', from: s.id, to: s.leader, term: 0, entries: m.entries }))
    else if (m.from === s.id) for (const e of m.entries) drop(s, { what: e.kind === 'conf' ? 'conf' : 'proposal', client: e.client, seq: e.seq, reason: 'no leader' })
    return
  }
  let appended = false
  for (const e of m.entries) appended = handleProposal(s, e) || appended
  if (appended) broadcastAppend(s) // one append per follower for the whole batch
}

/** Leader: append one proposed entry unless refused; true if appended. */
function handleProposal (s: CoreState, e: Entry): boolean {
  const what = e.kind === 'conf' ? 'conf' : 'proposal'
  const refuse = (reason: string): false => { drop(s, { what, client: e.client, seq: e.seq, reason }); return false }
  if (s.leadTransferee !== '') return refuse('leadership transfer in progress')
  if (s.log.lastIndex() - s.log.committed >= UNCOMMITTED_ENTRIES_MAX) return refuse('too many uncommitted entries')
  if (e.kind === 'conf') {
    const reason = confChangeRefusal(s, e.data)
    if (reason !== '') return refuse(reason)
  }
  const index = s.log.lastIndex() + 1
  if (e.kind === 'conf') s.pendingConfIndex = index
  s.log.append([{ ...e, term: s.term, index }])
  return true
}

// ---- leader ------------------------------------------------------------------------------

/** Leader: a response from a follower (SPEC raft R4). */
export function stepLeader (s: CoreState, m: Message): void {
  const pr = s.progress.get(m.from)
  if (pr === undefined) return
  switch (m.type) {
    case 'appResp': pr.recentActive = true; handleAppendResponse(s, m, pr); return
    case 'heartbeatResp':
      pr.recentActive = true
      pr.probeSent = false
      // SPEC raft R4: the peer is alive, so free one slot of a full window (etcd FreeFirstOne): the
      // next append either succeeds or is rejected with a hint, and both resume replication
      if (pr.state === 'replicate' && pr.isPaused()) pr.freeFirstInflight()
      if (pr.match < s.log.lastIndex()) sendAppend(s, m.from)
      if (m.context !== '') ackReads(s, m.from, Number(m.context))
      return
    default:
  }
}

function handleAppendResponse (s: CoreState, m: Message, pr: Progress): void {
  if (m.reject) {
    let hint = m.hintIndex
    if (m.hintTerm > 0) hint = s.log.findConflictByTerm(m.hintIndex, m.hintTerm).index
    if (pr.maybeDecrease(m.index, hint)) sendAppend(s, m.from)
    return
  }
  const wasPaused = pr.isPaused()
  if (!pr.maybeUpdate(Math.min(m.index, s.log.lastIndex()))) {
    if (pr.state === 'probe') sendAppend(s, m.from)
    return
  }
  if (pr.state === 'probe') pr.becomeReplicate()
  else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) { pr.becomeProbe(); pr.becomeReplicate() }
  if (maybeCommit(s)) broadcastAppend(s)
  else if (wasPaused && pr.next > s.log.lastIndex()) sendAppend(s, m.from) // an empty append carries the commit index
  else sendAppendsWhileOpen(s, m.from)
  if (m.from === s.leadTransferee && pr.match === s.log.lastIndex()) {
    send(s, message({ type: 'timeoutNow', from: s.id, to: m.from, term: s.term }))
  }
}

function sendAppendsWhileOpen (s: CoreState, to: string): void {
  const pr = s.progress.get(to)!
  while (!pr.isPaused() && pr.next <= s.log.lastIndex()) {
    const before = pr.next
    sendAppend(s, to)
    if (pr.next === before) break
  }
}

/** Leader: the next append to `to` (or the snapshot, if its next entry was compacted), unless paused. */
export function sendAppend (s: CoreState, to: string): void {
  const pr = s.progress.get(to)
  if (pr === undefined || to === s.id || pr.isPaused()) return
  const prevIndex = pr.next - 1
  const prevTerm = s.log.term(prevIndex)
  const entries = s.log.slice(pr.next, s.appendEntriesMax)
  if (prevTerm === undefined || entries === undefined) { sendSnapshot(s, to, pr); return }
  let bytes = 0
  let count = 0
  while (count < entries.length && (count === 0 || bytes + entries[count]!.data.byteLength <= APPEND_BYTES_MAX)) bytes += entries[count++]!.data.byteLength
  entries.length = count
  send(s, message({ type: 'app', from: s.id, to, term: s.term, index: prevIndex, logTerm: prevTerm, entries, commit: s.log.committed }))
  pr.sentAppend(prevIndex + entries.length, entries.length)
}

function sendSnapshot (s: CoreState, to: string, pr: Progress): void {
  const snapshot = s.snapshot
  assert(snapshot !== null, 'a compacted log has a snapshot')
  pr.becomeSnapshot(snapshot.index)
  send(s, message({ type: 'snap', from: s.id, to, term: s.term, snapshot }))
}

/** Leader: the next append to every follower. */
export function broadcastAppend (s: CoreState): void {
  for (const id of s.voters) if (id !== s.id) sendAppend(s, id)
}

// ---- follower ----------------------------------------------------------------------------

/** Follower: an append from the leader (SPEC raft R4). */
export function handleAppend (s: CoreState, m: Message): void {
  const reply = (fields: Partial<Message>): void => send(s, message({ type: 'appResp', from: s.id, to: m.from, term: s.term, ...fields }))
  if (m.index < s.log.committed) { reply({ index: s.log.committed }); return }
  const lastNew = s.log.maybeAppend(m.index, m.logTerm, m.entries)
  if (lastNew !== null) {
    commitTo(s, Math.min(m.commit, lastNew))
    reply({ index: lastNew }) // sent only after the entries are persisted (E1)
    return
  }
  // SPEC raft R4: hint the leader past a whole conflicting term
  const hint = s.log.findConflictByTerm(Math.min(m.index, s.log.lastIndex()), m.logTerm)
  reply({ index: m.index, reject: true, hintIndex: hint.index, hintTerm: hint.term })
}

/** Follower: a heartbeat carries the commit index (up to what this follower matched). */
export function handleHeartbeat (s: CoreState, m: Message): void {
  commitTo(s, Math.min(m.commit, s.log.lastIndex()))
  send(s, message({ type: 'heartbeatResp', from: s.id, to: m.from, term: s.term, context: m.context }))
}

/** Follower: the leader's snapshot replaces the log unless this log already has it (SPEC raft R7). */
export function handleSnapshot (s: CoreState, m: Message): void {
  const snapshot = m.snapshot
  const reply = (index: number): void => send(s, message({ type: 'appResp', from: s.id, to: m.from, term: s.term, index }))
  if (snapshot === null) return
  if (snapshot.index <= s.log.committed) { reply(s.log.committed); return }
  if (s.log.matchTerm(snapshot.index, snapshot.term)) { commitTo(s, snapshot.index); reply(snapshot.index); return }
  s.log.restoreSnapshot(snapshot)
  s.snapshot = snapshot
  s.voters = sortedUnique(snapshot.voters)
  s.configs.reset(snapshot.index, s.voters)
  reply(snapshot.index)
}
