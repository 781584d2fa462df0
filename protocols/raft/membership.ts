// Membership of a raft core (SPEC raft R9 and "Threat model"): who is heard, which changes the
// leader accepts, and how committed conf entries change the voters.

import { DecodeError, LimitExceededError } from '../kit/errors.ts'
import { decodeConfChange, VOTERS_MAX } from './messages.ts'
import type { ConfChange } from './messages.ts'
import { Progress } from './progress.ts'
import { releaseReads } from './reads.ts'
import { becomeFollower, broadcastHeartbeat, sortedUnique } from './core-state.ts'
import type { CoreState } from './core-state.ts'

/**
 * SPEC raft "Threat model": `id` is a voter of this node's configuration, or is being added by a
 * conf entry in this node's log that has not committed here yet (during a change, both the old
 * and the new configuration are heard; a removal takes effect, as for voting, on commit).
 */
export function isMember (s: CoreState, id: string): boolean {
  if (s.voters.includes(id)) return true
  const at = `${s.log.committed}/${s.log.lastIndex()}/${s.log.lastTerm()}`
  if (s.pendingMembers.at !== at) {
    const ids = new Set<string>()
    for (let i = Math.max(s.log.committed, s.log.snapshotIndex) + 1; i <= s.log.lastIndex(); i++) {
      const e = s.log.entry(i)!
      if (e.kind !== 'conf') continue
      const cc = decodeConfChange(e.data)
      if (cc.op === 'add') ids.add(cc.node)
    }
    s.pendingMembers = { at, ids }
  }
  return s.pendingMembers.ids.has(id)
}

/** Leader: why the conf change in `data` cannot be appended now ('' if it can). */
export function confChangeRefusal (s: CoreState, data: Uint8Array): string {
  // SPEC raft R9 (the 2015 fix): one change at a time, and only after an entry of this term committed
  if (s.pendingConfIndex > s.log.committed) return 'a membership change is still uncommitted'
  if (s.log.term(s.log.committed) !== s.term) return 'leader has not committed an entry of its term yet'
  let cc: ConfChange
  try {
    cc = decodeConfChange(data)
  } catch (err) {
    if (!(err instanceof DecodeError) && !(err instanceof LimitExceededError)) throw err
    return err.message // a malformed change never enters the log, so appliers can trust conf entries
  }
  if (cc.op === 'add' && s.voters.includes(cc.node)) return `${cc.node} is already a voter`
  if (cc.op === 'add' && s.voters.length >= VOTERS_MAX) return 'VOTERS_MAX reached'
  if (cc.op === 'remove' && !s.voters.includes(cc.node)) return `${cc.node} is not a voter`
  if (cc.op === 'remove' && s.voters.length === 1) return 'cannot remove the last voter'
  return ''
}

/**
 * SPEC raft R9: a membership change takes effect on every node when its entry commits. Returns true
 * when this node is still leader and the new voters may commit more (the caller re-runs the commit rule).
 */
export function applyConfChanges (s: CoreState, after: number, upTo: number): boolean {
  for (let i = Math.max(after, s.log.snapshotIndex) + 1; i <= upTo; i++) {
    const e = s.log.entry(i)!
    if (e.kind !== 'conf') continue
    const cc = decodeConfChange(e.data)
    const voters = cc.op === 'add' ? sortedUnique([...s.voters, cc.node]) : s.voters.filter((v) => v !== cc.node)
    s.voters = voters
    s.configs.push(i, voters)
    if (s.role !== 'leader') continue
    if (cc.op === 'add' && !s.progress.has(cc.node)) {
      const pr = new Progress(s.log.lastIndex() + 1)
      pr.recentActive = true
      s.progress.set(cc.node, pr)
    } else if (cc.op === 'remove') {
      s.progress.delete(cc.node)
      if (cc.node === s.leadTransferee) s.leadTransferee = ''
    }
  }
  if (s.role === 'leader' && !s.voters.includes(s.id)) {
    broadcastHeartbeat(s, 0) // let the remaining voters learn the commit of our removal
    becomeFollower(s, s.term, '')
    return false
  }
  if (s.role !== 'leader') return false
  releaseReads(s)
  return true
}
