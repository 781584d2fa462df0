// The state of one raft core (SPEC raft) and the primitives every concern shares: sending, events,
// the leader field and role transitions. The concerns (elections.ts, replication.ts, reads.ts,
// membership.ts) are functions over this state; core.ts owns it and dispatches to them.

import type { Rng } from '../kit/rng.ts'
import type { RaftLog } from './log.ts'
import { message } from './messages.ts'
import type { Message, Snapshot } from './messages.ts'
import { Progress } from './progress.ts'
import type { ConfigHistory } from './config-history.ts'
import type { ReadIndexQueue } from './read-only.ts'
import type { RaftEvent, ReadState } from './ready.ts'

/** Roles of a node (pre-candidate: running a pre-vote, SPEC raft R5). */
export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader'

/** Why step() refused a message without acting on it (SPEC raft "Threat model"). */
export type RejectReason = 'misaddressed' | 'notAMember' | 'unexpectedReadResponse'

/** Test-only fault injections of the simulator's self-test (each breaks one SPEC rule). */
export interface UnsafeFlags { voteTwice: boolean, readWithoutQuorum: boolean, commitOldTerm: boolean, acceptNonMembers: boolean }

/** Everything a raft core knows; mutated only by the concern functions, in core.ts's order. */
export interface CoreState {
  readonly id: string
  readonly electionTicks: number
  readonly heartbeatTicks: number
  readonly preVote: boolean
  readonly checkQuorum: boolean
  /**
   * Heartbeat-loss detector (SPEC raft R6a), 0 = off: a follower stops honouring its leader's lease
   * after this many ticks without hearing from it, and campaigns one tick later (plus its rank).
   */
  readonly suspectTicks: number
  readonly rng: Rng
  readonly unsafe: UnsafeFlags
  /** Entries per append (≤ ENTRIES_MAX). */
  readonly appendEntriesMax: number
  term: number
  vote: string
  leader: string
  role: Role
  voters: string[]
  readonly log: RaftLog
  /** Latest snapshot (sent to followers that fell behind the log). */
  snapshot: Snapshot | null
  /** Messages step() refused, by reason. */
  readonly rejected: Record<RejectReason, number>
  /** Leader: replication progress per voter (itself included). */
  readonly progress: Map<string, Progress>
  /** (Pre-)candidate: responses by voter. */
  readonly votes: Map<string, boolean>
  electionElapsed: number
  heartbeatElapsed: number
  randomizedElectionTimeout: number
  leadTransferee: string
  pendingConfIndex: number
  /** Leader: pending ReadIndex requests (SPEC raft R8). */
  readonly reads: ReadIndexQueue
  /** Follower: contexts of reads forwarded to the leader, awaiting a readIndexResp (SPEC raft R8). */
  readonly forwardedReads: Set<string>
  /** Voter sets by the index of the conf entry that produced them (for snapshots). */
  configs: ConfigHistory
  /** Nodes added by conf entries not yet committed here, cached per log position (membership.ts). */
  pendingMembers: { at: string, ids: Set<string> }
  outbox: Message[]
  readStates: ReadState[]
  events: RaftEvent[]
  reportedLeader: string
  reportedTerm: number
}

/** Queue a message for the next Ready. */
export function send (s: CoreState, m: Message): void { s.outbox.push(m) }

/** Report a request this node refused (SPEC raft R10). */
export function drop (s: CoreState, d: { what: 'proposal' | 'read' | 'transfer' | 'conf', client?: string, seq?: number, context?: string, reason: string }): void {
  s.events.push({ type: 'dropped', what: d.what, client: d.client ?? '', seq: d.seq ?? 0, context: d.context ?? '', reason: d.reason, leader: s.leader })
}

/** Report a dropped read, if this node asked for it (a peer's read is dropped silently; it retries). */
export function dropRead (s: CoreState, read: { context: string, reason: string, from?: string }): void {
  if ((read.from ?? s.id) === s.id) drop(s, { what: 'read', context: read.context, reason: read.reason })
}

/** Set the known leader; a change of leader or term is reported and ends this node's forwarded reads. */
export function setLeader (s: CoreState, leader: string): void {
  s.leader = leader
  if (leader !== s.reportedLeader || s.term !== s.reportedTerm) {
    // SPEC raft R8: only the leader of the term a read was forwarded in may answer it
    for (const context of s.forwardedReads) dropRead(s, { context, reason: 'leadership changed' })
    s.forwardedReads.clear()
    s.reportedLeader = leader
    s.reportedTerm = s.term
    s.events.push({ type: 'leader', leader, term: s.term })
  }
}

/** A new random election timeout in [electionTicks, 2·electionTicks) (SPEC raft R2). */
export function resetElectionTimer (s: CoreState): void {
  s.randomizedElectionTimeout = s.rng.int(s.electionTicks, 2 * s.electionTicks - 1)
}

/**
 * SPEC raft R6/R6a: ticks of silence during which a follower still honours its leader's lease and
 * ignores (pre-)votes of higher terms. The detector shortens it from the election timeout to
 * `suspectTicks`; a leader keeps the whole election timeout (check-quorum decides its fate).
 */
export function leaseTicks (s: CoreState): number {
  return s.role !== 'leader' && s.suspectTicks > 0 ? s.suspectTicks : s.electionTicks
}

/**
 * SPEC raft R6a: ticks of silence after which a follower that knows a leader suspects it and
 * starts a pre-vote: one tick past the lease (so its peers, which heard the same last heartbeat,
 * have stopped honouring it too), plus its rank among the voters other than the leader, so the
 * survivors campaign one tick apart and rarely split the vote. Infinity when the detector is off.
 */
export function suspectTimeout (s: CoreState): number {
  if (s.suspectTicks === 0 || s.role !== 'follower' || s.leader === '') return Infinity
  const rank = s.voters.filter((v) => v !== s.leader).indexOf(s.id)
  return s.suspectTicks + 1 + Math.max(0, rank)
}

/** This node may campaign: it is a voter of its configuration. */
export function promotable (s: CoreState): boolean { return s.voters.includes(s.id) }

/** Become a follower of `term` (the vote is kept within a term) under `leader` ('' unknown). */
export function becomeFollower (s: CoreState, term: number, leader: string): void {
  if (term !== s.term) { s.term = term; s.vote = '' }
  s.role = 'follower'
  setLeader(s, leader)
  resetRoleState(s)
}

/** Start a pre-vote (SPEC raft R5): the term does not change. */
export function becomePreCandidate (s: CoreState): void {
  s.role = 'preCandidate'
  setLeader(s, '')
  resetRoleState(s)
}

/** Start an election in a new term, voting for itself (persisted before any reply, SPEC raft R1). */
export function becomeCandidate (s: CoreState): void {
  s.term++
  s.vote = s.id
  s.role = 'candidate'
  setLeader(s, '')
  resetRoleState(s)
}

/** Take leadership: fresh progress for every voter and a no-op of the new term; the caller sends the appends. */
export function becomeLeaderState (s: CoreState): void {
  s.role = 'leader'
  resetRoleState(s)
  for (const id of s.voters) {
    const pr = new Progress(s.log.lastIndex() + 1)
    pr.recentActive = true
    s.progress.set(id, pr)
  }
  s.progress.get(s.id)!.maybeUpdate(s.log.stableIndex)
  s.pendingConfIndex = s.log.lastIndex() // any conf entry in the log may still be uncommitted
  setLeader(s, s.id)
  // SPEC raft R3: a no-op of the new term lets earlier-term entries commit by counting
  s.log.append([{ term: s.term, index: s.log.lastIndex() + 1, kind: 'noop', data: new Uint8Array(0), client: '', seq: 0 }])
}

function resetRoleState (s: CoreState): void {
  s.electionElapsed = 0
  s.heartbeatElapsed = 0
  resetElectionTimer(s)
  s.votes.clear()
  s.progress.clear()
  s.leadTransferee = ''
  for (const context of s.reads.clear(s.id)) dropRead(s, { context, reason: 'leadership lost' })
}

/** Leader: a heartbeat to every follower, carrying the read sequence `readSeq` (0: none; SPEC raft R8). */
export function broadcastHeartbeat (s: CoreState, readSeq: number): void {
  for (const [id, pr] of s.progress) {
    if (id === s.id) continue
    send(s, message({ type: 'heartbeat', from: s.id, to: id, term: s.term, commit: Math.min(pr.match, s.log.committed), context: readSeq === 0 ? '' : String(readSeq) }))
  }
}

/** Ids without duplicates, sorted (voter lists compare equal on every node). */
export function sortedUnique (ids: readonly string[]): string[] { return [...new Set(ids)].sort() }
