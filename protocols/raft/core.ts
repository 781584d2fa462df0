// The pure raft state machine of one node (SPEC raft): step(message), tick() and local requests in,
// an ordered Ready out via drain(), acknowledged by advance(). No I/O, no clocks, seeded randomness.
// This file validates input and dispatches; the concerns live beside it, as functions over the
// state (core-state.ts): elections.ts, replication.ts, reads.ts, membership.ts.

import { assert } from '../kit/assert.ts'
import { LimitExceededError } from '../kit/errors.ts'
import type { Rng } from '../kit/rng.ts'
import { RaftLog } from './log.ts'
import { encodeConfChange, ENTRIES_MAX, ENTRY_BYTES_MAX, message, VOTERS_MAX } from './messages.ts'
import type { ConfChange, Entry, EntryKind, Message, Snapshot } from './messages.ts'
import type { Progress } from './progress.ts'
import { ConfigHistory } from './config-history.ts'
import { ReadIndexQueue } from './read-only.ts'
import type { HardState, Ready } from './ready.ts'
import { becomeFollower, drop, leaseTicks, resetElectionTimer, send, setLeader, sortedUnique } from './core-state.ts'
import type { CoreState, RejectReason, Role } from './core-state.ts'
import { handleVoteRequest, handleVoteResponse, hup, tickElection, tickLeader } from './elections.ts'
import { applyConfChanges, isMember } from './membership.ts'
import { readIndex, stepReadIndex, stepReadIndexResponse } from './reads.ts'
import { broadcastAppend, handleAppend, handleHeartbeat, handleSnapshot, maybeCommit, sendAppend, stepLeader, stepProposal } from './replication.ts'

export type { RejectReason, Role } from './core-state.ts'
export { UNCOMMITTED_ENTRIES_MAX } from './replication.ts'

/** What the driver persisted, handed back on restart (SPEC raft "Restart"). */
export interface PersistedState { hardState: HardState, snapshot: Snapshot | null, entries: Entry[] }

/** Options of a raft core. */
export interface RaftCoreOptions {
  id: string
  /** Genesis voters, identical on every member; used when there is no snapshot. */
  voters: string[]
  rng: Rng
  /** Ticks without a leader before a campaign; the actual timeout is random in [E, 2E). */
  electionTicks?: number
  heartbeatTicks?: number
  preVote?: boolean
  checkQuorum?: boolean
  /**
   * Heartbeat-loss detector (SPEC raft R6a): ticks of silence after which a follower stops
   * honouring its leader's lease, and (one tick and its rank later) campaigns. 0 (default) = off:
   * the lease and the campaign wait for the election timeout. Needs heartbeatTicks < it < electionTicks.
   */
  suspectTicks?: number
  /** What the driver persisted before a restart. */
  persisted?: PersistedState
  /** Test-only fault injection for the simulator's self-test: grant every vote request. */
  unsafeVoteTwice?: boolean
  /** Test-only fault injection: answer reads without confirming leadership (breaks R8). */
  unsafeReadWithoutQuorum?: boolean
  /** Test-only fault injection: commit entries of earlier terms by counting (drops the Figure 8 rule of R3). */
  unsafeCommitOldTerm?: boolean
  /** Test-only fault injection: hear messages from anyone, members or not (drops the membership check). */
  unsafeAcceptNonMembers?: boolean
  /** Entries per append, at most ENTRIES_MAX (default); the simulator lowers it so acks split terms. */
  appendEntriesMax?: number
}

/** The raft core of one node. */
export class RaftCore {
  readonly #s: CoreState
  #persistedHard: HardState
  #inflightReady: Ready | null = null

  constructor (options: RaftCoreOptions) {
    const electionTicks = options.electionTicks ?? 10
    const heartbeatTicks = options.heartbeatTicks ?? 1
    assert(heartbeatTicks >= 1 && electionTicks > heartbeatTicks, 'electionTicks > heartbeatTicks ≥ 1')
    const suspectTicks = options.suspectTicks ?? 0
    assert(suspectTicks === 0 || (Number.isInteger(suspectTicks) && suspectTicks > heartbeatTicks && suspectTicks < electionTicks), `suspectTicks (${suspectTicks}) is 0 or an integer in (heartbeatTicks, electionTicks)`)
    const p = options.persisted
    const snapshot = p?.snapshot ?? null
    const voters = sortedUnique(snapshot?.voters ?? options.voters)
    if (voters.length > VOTERS_MAX) throw new LimitExceededError(`Cannot start raft: ${voters.length} voters exceeds VOTERS_MAX (${VOTERS_MAX})`)
    const log = RaftLog.restore(snapshot, p?.entries ?? [], p?.hardState.commit ?? 0)
    this.#s = {
      id: options.id,
      electionTicks,
      heartbeatTicks,
      preVote: options.preVote ?? true,
      checkQuorum: options.checkQuorum ?? true,
      suspectTicks,
      rng: options.rng,
      unsafe: {
        voteTwice: options.unsafeVoteTwice === true,
        readWithoutQuorum: options.unsafeReadWithoutQuorum === true,
        commitOldTerm: options.unsafeCommitOldTerm === true,
        acceptNonMembers: options.unsafeAcceptNonMembers === true
      },
      appendEntriesMax: Math.max(1, Math.min(ENTRIES_MAX, options.appendEntriesMax ?? ENTRIES_MAX)),
      term: p?.hardState.term ?? 0,
      vote: p?.hardState.vote ?? '',
      leader: '',
      role: 'follower',
      voters,
      log,
      snapshot,
      rejected: { misaddressed: 0, notAMember: 0, unexpectedReadResponse: 0 },
      progress: new Map(),
      votes: new Map(),
      electionElapsed: 0,
      heartbeatElapsed: 0,
      randomizedElectionTimeout: 0,
      leadTransferee: '',
      pendingConfIndex: 0,
      reads: new ReadIndexQueue(),
      forwardedReads: new Set(),
      configs: new ConfigHistory(snapshot?.index ?? 0, voters),
      pendingMembers: { at: '', ids: new Set() },
      outbox: [],
      readStates: [],
      events: [],
      reportedLeader: '',
      reportedTerm: 0
    }
    this.#persistedHard = { term: this.#s.term, vote: this.#s.vote, commit: log.committed }
    applyConfChanges(this.#s, log.snapshotIndex, log.committed)
    resetElectionTimer(this.#s)
  }

  get id (): string { return this.#s.id }
  get electionTicks (): number { return this.#s.electionTicks }
  get heartbeatTicks (): number { return this.#s.heartbeatTicks }
  get preVote (): boolean { return this.#s.preVote }
  get checkQuorum (): boolean { return this.#s.checkQuorum }
  /** Heartbeat-loss detector threshold in ticks (SPEC raft R6a); 0 = off. */
  get suspectTicks (): number { return this.#s.suspectTicks }
  get term (): number { return this.#s.term }
  get vote (): string { return this.#s.vote }
  get leader (): string { return this.#s.leader }
  get role (): Role { return this.#s.role }
  get voters (): string[] { return this.#s.voters }
  get log (): RaftLog { return this.#s.log }
  /** Latest snapshot (sent to followers that fell behind the log). */
  get snapshot (): Snapshot | null { return this.#s.snapshot }
  /** Messages step() refused, by reason: the driver reports them (peer input is counted, never trusted). */
  get rejected (): Readonly<Record<RejectReason, number>> { return this.#s.rejected }

  // ---- inputs ---------------------------------------------------------------------------

  /** Advance logical time by one tick (SPEC raft R5, R6). */
  tick (): void {
    if (this.#s.role === 'leader') tickLeader(this.#s)
    else tickElection(this.#s)
  }

  /** Start a campaign now (e.g. the adapter saw the leader's connection die: fast failover). */
  campaign (): void {
    hup(this.#s, false)
  }

  /**
   * The adapter saw the leader's connection close (its process died): drop the leader, which
   * ends the leader lease so this follower grants pre-votes at once (etcd ForgetLeader; SPEC R6).
   */
  forgetLeader (): void {
    if (this.#s.role === 'follower' && this.#s.leader !== '') setLeader(this.#s, '')
  }

  /** Propose a command; followers forward it to the leader (SPEC raft R10). */
  propose (data: Uint8Array, request: { client: string, seq: number } = { client: '', seq: 0 }): void {
    this.#proposeEntry('normal', data, request)
  }

  /**
   * Propose several commands at once (group commit): the leader appends them all, then sends one
   * append per follower; a follower forwards them in one `prop`. At most ENTRIES_MAX per call.
   */
  proposeBatch (requests: ReadonlyArray<{ data: Uint8Array, client: string, seq: number }>): void {
    if (requests.length > ENTRIES_MAX) throw new LimitExceededError(`Cannot propose: ${requests.length} commands in one batch exceeds ENTRIES_MAX (${ENTRIES_MAX})`)
    for (const r of requests) if (r.data.byteLength > ENTRY_BYTES_MAX) throw new LimitExceededError(`Cannot propose: ${r.data.byteLength} bytes exceeds ENTRY_BYTES_MAX (${ENTRY_BYTES_MAX})`)
    const entries: Entry[] = requests.map((r) => ({ term: 0, index: 0, kind: 'normal', data: r.data, client: r.client, seq: r.seq }))
    if (entries.length > 0) stepProposal(this.#s, message({ type: 'prop', from: this.#s.id, to: this.#s.id, term: 0, entries }))
  }

  /** Propose adding or removing one voter (SPEC raft R9). */
  proposeConfChange (cc: ConfChange, request: { client: string, seq: number } = { client: '', seq: 0 }): void {
    this.#proposeEntry('conf', encodeConfChange(cc), request)
  }

  /** Ask for a linearizable read point; answered by a ReadState with this context (SPEC raft R8). */
  readIndex (context: string): void { readIndex(this.#s, context) }

  /** Hand leadership to `to` once it has caught up (SPEC raft R11). */
  transferLeadership (to: string): void {
    const s = this.#s
    if (s.role !== 'leader') { drop(s, { what: 'transfer', context: to, reason: 'not leader' }); return }
    if (to === s.id || !s.voters.includes(to)) { drop(s, { what: 'transfer', context: to, reason: 'target is self or not a voter' }); return }
    s.leadTransferee = to
    s.electionElapsed = 0 // the transfer aborts after one election timeout
    const pr = s.progress.get(to)!
    if (pr.match === s.log.lastIndex()) send(s, message({ type: 'timeoutNow', from: s.id, to, term: s.term }))
    else sendAppend(s, to)
  }

  /**
   * The driver persisted a snapshot of the state machine at applied index `index`; drop the
   * log prefix it covers (SPEC raft R7). Returns the snapshot the driver must store.
   */
  compact (index: number, data: Uint8Array): Snapshot {
    const s = this.#s
    assert(index <= s.log.applied, `compact at ${index} ≤ applied ${s.log.applied}`)
    const snapshot: Snapshot = { index, term: s.log.term(index)!, voters: s.configs.votersAt(index), data }
    s.log.compact(index)
    s.snapshot = snapshot
    s.configs.compact(index)
    return snapshot
  }

  /** Process one message from a peer (or forwarded request). */
  step (m: Message): void {
    const s = this.#s
    if (m.to !== s.id || m.from === s.id) { s.rejected.misaddressed++; return }
    // SPEC raft "Threat model": speaking the protocol earns nothing; only members are heard
    if (!isMember(s, m.from) && !s.unsafe.acceptNonMembers) { s.rejected.notAMember++; return }
    if (m.type === 'prop') { stepProposal(s, m); return }
    if (m.type === 'readIndex') { stepReadIndex(s, m); return }
    if (m.type === 'readIndexResp') { stepReadIndexResponse(s, m); return }
    if (m.term > s.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        const inLease = s.checkQuorum && s.leader !== '' && s.electionElapsed < leaseTicks(s)
        if (inLease && !m.force) return // SPEC raft R6, R6a: a live leader's followers ignore disruptive campaigns
      }
      if (m.type === 'preVote') {
        // a pre-vote never changes our term (SPEC raft R5)
      } else if (m.type === 'preVoteResp' && !m.reject) {
        // granted pre-votes carry the future term; the campaign proper will raise it
      } else {
        const leader = m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap' ? m.from : ''
        becomeFollower(s, m.term, leader)
      }
    } else if (m.term < s.term) {
      if ((s.checkQuorum || s.preVote) && (m.type === 'app' || m.type === 'heartbeat')) {
        // tell a stale leader about the newer term so it steps down (etcd raft.go)
        send(s, message({ type: 'appResp', from: s.id, to: m.from, term: s.term }))
      } else if (m.type === 'preVote') {
        send(s, message({ type: 'preVoteResp', from: s.id, to: m.from, term: s.term, reject: true }))
      }
      return
    }
    if (m.type === 'vote' || m.type === 'preVote') { handleVoteRequest(s, m); return }
    switch (s.role) {
      case 'leader': stepLeader(s, m); break
      case 'candidate': case 'preCandidate': this.#stepCandidate(m); break
      case 'follower': this.#stepFollower(m); break
    }
  }

  // ---- outputs --------------------------------------------------------------------------

  /** True when drain() would return something to do. */
  hasReady (): boolean {
    const s = this.#s
    if (this.#inflightReady !== null) return false
    return s.outbox.length > 0 || s.readStates.length > 0 || s.events.length > 0 ||
      s.log.unstableSnapshot !== null || s.log.stableIndex < s.log.lastIndex() ||
      s.log.committed > s.log.appliedPending || this.#hardStateChanged()
  }

  /** Take the next batch of effects (SPEC raft E1–E5); call advance(ready) when it is carried out. */
  drain (): Ready {
    const s = this.#s
    assert(this.#inflightReady === null, 'advance() the previous Ready before draining another')
    const ready: Ready = {
      hardState: this.#hardStateChanged() ? this.#hardState() : null,
      snapshot: s.log.unstableSnapshot,
      entries: s.log.unstableEntries(),
      messages: s.outbox,
      committedEntries: s.log.nextCommittedEntries(),
      readStates: s.readStates,
      events: s.events
    }
    s.outbox = []
    s.readStates = []
    s.events = []
    if (ready.hardState !== null) this.#persistedHard = ready.hardState
    const lastCommitted = ready.committedEntries.at(-1)
    if (lastCommitted !== undefined) s.log.appliedPending = lastCommitted.index
    this.#inflightReady = ready
    return ready
  }

  /** The driver persisted, sent and applied `ready` (SPEC raft E1–E4). */
  advance (ready: Ready): void {
    const s = this.#s
    assert(this.#inflightReady === ready, 'advance() the Ready that drain() returned')
    this.#inflightReady = null
    if (ready.snapshot !== null && s.log.unstableSnapshot === ready.snapshot) s.log.unstableSnapshot = null
    const last = ready.entries.at(-1)
    if (last !== undefined) s.log.stableTo(last.index, last.term)
    const lastCommitted = ready.committedEntries.at(-1)
    if (lastCommitted !== undefined) s.log.applied = Math.max(s.log.applied, lastCommitted.index)
    if (s.role === 'leader') {
      // the leader counts itself only for entries it has persisted (SPEC raft E1)
      const self = s.progress.get(s.id)
      if (self !== undefined && self.maybeUpdate(s.log.stableIndex) && maybeCommit(s)) broadcastAppend(s)
    }
  }

  /** One line of soft state for traces. */
  describe (): string {
    const s = this.#s
    return `${s.id} ${s.role} term=${s.term} vote=${s.vote || '-'} leader=${s.leader || '-'} last=${s.log.lastTerm()}/${s.log.lastIndex()} commit=${s.log.committed} applied=${s.log.applied} voters=${s.voters.join(',')}`
  }

  /** Replication progress of `peer` (leader only), for tests and traces. */
  progressOf (peer: string): Progress | undefined { return this.#s.progress.get(peer) }

  // ---- dispatch -------------------------------------------------------------------------

  #stepCandidate (m: Message): void {
    switch (m.type) {
      case 'app': case 'heartbeat': case 'snap':
        becomeFollower(this.#s, m.term, m.from)
        this.#stepFollower(m)
        return
      case 'voteResp': case 'preVoteResp': handleVoteResponse(this.#s, m); return
      default:
    }
  }

  #stepFollower (m: Message): void {
    const s = this.#s
    switch (m.type) {
      case 'app': s.electionElapsed = 0; setLeader(s, m.from); handleAppend(s, m); return
      case 'heartbeat': s.electionElapsed = 0; setLeader(s, m.from); handleHeartbeat(s, m); return
      case 'snap': s.electionElapsed = 0; setLeader(s, m.from); handleSnapshot(s, m); return
      case 'timeoutNow': hup(s, true); return // SPEC raft R11
      default:
    }
  }

  #proposeEntry (kind: EntryKind, data: Uint8Array, request: { client: string, seq: number }): void {
    if (data.byteLength > ENTRY_BYTES_MAX) throw new LimitExceededError(`Cannot propose: ${data.byteLength} bytes exceeds ENTRY_BYTES_MAX (${ENTRY_BYTES_MAX})`)
    const entry: Entry = { term: 0, index: 0, kind, data, client: request.client, seq: request.seq }
    stepProposal(this.#s, message({ type: 'prop', from: this.#s.id, to: this.#s.id, term: 0, entries: [entry] }))
  }

  #hardState (): HardState { return { term: this.#s.term, vote: this.#s.vote, commit: this.#s.log.committed } }

  #hardStateChanged (): boolean {
    const h = this.#persistedHard
    return h.term !== this.#s.term || h.vote !== this.#s.vote || h.commit !== this.#s.log.committed
  }
}
