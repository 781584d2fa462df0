// Elections of a raft core (SPEC raft R1, R2, R5, R6, R11): election and heartbeat timers,
// pre-vote and vote campaigns, the voter's rules, and the leader's check-quorum.

import { message } from './messages.ts'
import type { Message, MessageType } from './messages.ts'
import { hasQuorum, voteResult } from './quorum.ts'
import { broadcastAppend } from './replication.ts'
import { becomeCandidate, becomeFollower, becomeLeaderState, becomePreCandidate, broadcastHeartbeat, drop, promotable, send, suspectTimeout } from './core-state.ts'
import type { CoreState } from './core-state.ts'

/**
 * A follower or candidate tick: campaign once the randomized election timeout passes, or, for a
 * follower that knows a leader, once the heartbeat-loss detector suspects it (SPEC raft R6a).
 */
export function tickElection (s: CoreState): void {
  s.electionElapsed++
  if (promotable(s) && s.electionElapsed >= Math.min(s.randomizedElectionTimeout, suspectTimeout(s))) {
    s.electionElapsed = 0
    hup(s, false)
  }
}

/** A leader tick: snapshot retries, check-quorum and transfer timeouts every election timeout, heartbeats. */
export function tickLeader (s: CoreState): void {
  s.heartbeatElapsed++
  s.electionElapsed++
  for (const pr of s.progress.values()) if (pr.state === 'snapshot' && ++pr.snapshotWaitTicks > s.electionTicks) pr.becomeProbe()
  if (s.electionElapsed >= s.electionTicks) {
    s.electionElapsed = 0
    const active = takeRecentlyActive(s)
    if (s.checkQuorum && !hasQuorum(s.voters, active)) { becomeFollower(s, s.term, ''); return } // SPEC raft R6
    if (s.leadTransferee !== '') { drop(s, { what: 'transfer', context: s.leadTransferee, reason: 'target did not catch up in time' }); s.leadTransferee = '' }
  }
  if (s.heartbeatElapsed >= s.heartbeatTicks) {
    s.heartbeatElapsed = 0
    broadcastHeartbeat(s, s.reads.latestSeq)
  }
}

/**
 * Peers heard from during the last election timeout (and this node); starts a new round.
 * SPEC raft R4: a replicating peer that stayed silent for a whole round was down or cut off, and
 * every append counted in flight to it may be lost: probe it again from its match index, so a
 * full inflight window cannot stall its catch-up when it returns (etcd MsgUnreachable).
 */
function takeRecentlyActive (s: CoreState): Set<string> {
  const active = new Set<string>()
  for (const [id, pr] of s.progress) {
    if (id === s.id || pr.recentActive) active.add(id)
    else if (pr.state === 'replicate') pr.becomeProbe()
    if (id !== s.id) pr.recentActive = false
  }
  return active
}

/** Start a campaign (a pre-vote first unless `transfer`: SPEC raft R5, R11), if this node may. */
export function hup (s: CoreState, transfer: boolean): void {
  if (s.role === 'leader' || !promotable(s)) return
  campaign(s, s.preVote && !transfer ? 'preVote' : 'vote', transfer)
}

function campaign (s: CoreState, kind: 'preVote' | 'vote', transfer: boolean): void {
  let voteTerm: number
  if (kind === 'preVote') { becomePreCandidate(s); voteTerm = s.term + 1 } else { becomeCandidate(s); voteTerm = s.term }
  s.votes.set(s.id, true)
  if (voteResult(s.voters, s.votes) === 'won') {
    if (kind === 'preVote') campaign(s, 'vote', false)
    else becomeLeader(s)
    return
  }
  for (const to of s.voters) {
    if (to === s.id) continue
    send(s, message({ type: kind, from: s.id, to, term: voteTerm, index: s.log.lastIndex(), logTerm: s.log.lastTerm(), force: transfer }))
  }
}

function becomeLeader (s: CoreState): void {
  becomeLeaderState(s)
  broadcastAppend(s)
}

/** A (pre-)vote request of this node's term or a newer one (SPEC raft R1, R2, R5). */
export function handleVoteRequest (s: CoreState, m: Message): void {
  const respType: MessageType = m.type === 'vote' ? 'voteResp' : 'preVoteResp'
  const canVote = s.vote === m.from || (s.vote === '' && s.leader === '') || (m.type === 'preVote' && m.term > s.term) || s.unsafe.voteTwice
  if (canVote && s.log.isUpToDate(m.index, m.logTerm)) {
    // SPEC raft R1: the vote is persisted (hard state) before this reply leaves (E1)
    send(s, message({ type: respType, from: s.id, to: m.from, term: m.term }))
    if (m.type === 'vote') { s.electionElapsed = 0; s.vote = m.from }
  } else {
    send(s, message({ type: respType, from: s.id, to: m.from, term: s.term, reject: true }))
  }
}

/** A (pre-)candidate counts a (pre-)vote response: won → next phase or leader, lost → follower. */
export function handleVoteResponse (s: CoreState, m: Message): void {
  if ((m.type === 'voteResp') !== (s.role === 'candidate')) return // a response to an earlier phase
  s.votes.set(m.from, !m.reject)
  const result = voteResult(s.voters, s.votes)
  if (result === 'won') {
    if (s.role === 'preCandidate') campaign(s, 'vote', false)
    else becomeLeader(s)
  } else if (result === 'lost') {
    becomeFollower(s, s.term, '')
  }
}
