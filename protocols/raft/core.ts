// The pure raft state machine of one node (SPEC raft): step(message), tick() and local requests in,
// an ordered Ready out via drain(), acknowledged by advance(). No I/O, no clocks, seeded randomness.

import { assert } from '../kit/assert.ts'
import { DecodeError, LimitExceededError } from '../kit/errors.ts'
import type { Rng } from '../kit/rng.ts'
import { RaftLog } from './log.ts'
import { APPEND_BYTES_MAX, decodeConfChange, encodeConfChange, ENTRIES_MAX, ENTRY_BYTES_MAX, message, VOTERS_MAX } from './messages.ts'
import type { ConfChange, Entry, EntryKind, Message, MessageType, Snapshot } from './messages.ts'
import { Progress } from './progress.ts'
import { committedIndex, hasQuorum, voteResult } from './quorum.ts'
import { ConfigHistory } from './config-history.ts'
import { READS_PENDING_MAX, ReadIndexQueue } from './read-only.ts'
import type { HardState, RaftEvent, Ready, ReadState } from './ready.ts'

/** Uncommitted entries a leader accepts before dropping proposals: bounds memory while a quorum is away. */
export const UNCOMMITTED_ENTRIES_MAX = 4096

/** Why step() refused a message without acting on it (SPEC raft "Threat model"). */
export type RejectReason = 'misaddressed' | 'notAMember' | 'unexpectedReadResponse'

/** Roles of a node (pre-candidate: running a pre-vote, SPEC raft R5). */
export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader'

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
  readonly id: string
  readonly electionTicks: number
  readonly heartbeatTicks: number
  readonly preVote: boolean
  readonly checkQuorum: boolean
  term = 0
  vote = ''
  leader = ''
  role: Role = 'follower'
  voters: string[]
  readonly log: RaftLog
  /** Latest snapshot (sent to followers that fell behind the log). */
  snapshot: Snapshot | null
  /** Messages step() refused, by reason: the driver reports them (peer input is counted, never trusted). */
  readonly rejected: Record<RejectReason, number> = { misaddressed: 0, notAMember: 0, unexpectedReadResponse: 0 }
  readonly #rng: Rng
  readonly #unsafeVoteTwice: boolean
  readonly #unsafeReadWithoutQuorum: boolean
  readonly #unsafeCommitOldTerm: boolean
  readonly #unsafeAcceptNonMembers: boolean
  /** Nodes added by conf entries not yet committed here, cached per log position (see #isMember). */
  #pendingMembers: { at: string, ids: Set<string> } = { at: '', ids: new Set() }
  readonly #appendEntriesMax: number
  #progress = new Map<string, Progress>()
  #votes = new Map<string, boolean>()
  #electionElapsed = 0
  #heartbeatElapsed = 0
  #randomizedElectionTimeout = 0
  #leadTransferee = ''
  #pendingConfIndex = 0
  #reads = new ReadIndexQueue()
  /** Contexts of reads this follower forwarded to its leader, awaiting a readIndexResp (SPEC raft R8). */
  #forwardedReads = new Set<string>()
  /** Voter sets by the index of the conf entry that produced them (for snapshots). */
  #configs: ConfigHistory
  #outbox: Message[] = []
  #readStates: ReadState[] = []
  #events: RaftEvent[] = []
  #persistedHard: HardState
  #inflightReady: Ready | null = null
  #reportedLeader = ''
  #reportedTerm = 0

  constructor (options: RaftCoreOptions) {
    this.id = options.id
    this.electionTicks = options.electionTicks ?? 10
    this.heartbeatTicks = options.heartbeatTicks ?? 1
    assert(this.heartbeatTicks >= 1 && this.electionTicks > this.heartbeatTicks, 'electionTicks > heartbeatTicks ≥ 1')
    this.preVote = options.preVote ?? true
    this.checkQuorum = options.checkQuorum ?? true
    this.#rng = options.rng
    this.#unsafeVoteTwice = options.unsafeVoteTwice === true
    this.#unsafeReadWithoutQuorum = options.unsafeReadWithoutQuorum === true
    this.#unsafeCommitOldTerm = options.unsafeCommitOldTerm === true
    this.#unsafeAcceptNonMembers = options.unsafeAcceptNonMembers === true
    this.#appendEntriesMax = Math.max(1, Math.min(ENTRIES_MAX, options.appendEntriesMax ?? ENTRIES_MAX))
    const p = options.persisted
    this.snapshot = p?.snapshot ?? null
    this.voters = sortedUnique(this.snapshot?.voters ?? options.voters)
    if (this.voters.length > VOTERS_MAX) throw new LimitExceededError(`Cannot start raft: ${this.voters.length} voters exceeds VOTERS_MAX (${VOTERS_MAX})`)
    this.#configs = new ConfigHistory(this.snapshot?.index ?? 0, this.voters)
    this.log = RaftLog.restore(this.snapshot, p?.entries ?? [], p?.hardState.commit ?? 0)
    this.term = p?.hardState.term ?? 0
    this.vote = p?.hardState.vote ?? ''
    this.#persistedHard = { term: this.term, vote: this.vote, commit: this.log.committed }
    this.#applyConfChanges(this.log.snapshotIndex, this.log.committed)
    this.#resetElectionTimer()
  }

  // ---- inputs ---------------------------------------------------------------------------

  /** Advance logical time by one tick (SPEC raft R5, R6). */
  tick (): void {
    if (this.role === 'leader') this.#tickLeader()
    else this.#tickElection()
  }

  /** Start a campaign now (e.g. the adapter saw the leader's connection die: fast failover). */
  campaign (): void {
    this.#hup(false)
  }

  /**
   * The adapter saw the leader's connection close (its process died): drop the leader, which
   * ends the leader lease so this follower grants pre-votes at once (etcd ForgetLeader; SPEC R6).
   */
  forgetLeader (): void {
    if (this.role === 'follower' && this.leader !== '') this.#setLeader('')
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
    if (entries.length > 0) this.#stepRequest(message({ type: 'prop', from: this.id, to: this.id, term: 0, entries }))
  }

  /** Propose adding or removing one voter (SPEC raft R9). */
  proposeConfChange (cc: ConfChange, request: { client: string, seq: number } = { client: '', seq: 0 }): void {
    this.#proposeEntry('conf', encodeConfChange(cc), request)
  }

  /** Ask for a linearizable read point; answered by a ReadState with this context (SPEC raft R8). */
  readIndex (context: string): void {
    if (this.role === 'leader') this.#handleReadIndex(this.id, context)
    else if (this.leader === '' || this.role !== 'follower') this.#dropRead(context, 'no leader')
    else if (this.#forwardedReads.size >= READS_PENDING_MAX || this.#forwardedReads.has(context)) this.#dropRead(context, 'too many pending reads or a duplicate context')
    else {
      this.#forwardedReads.add(context)
      this.#send(message({ type: 'readIndex', from: this.id, to: this.leader, term: 0, context }))
    }
  }

  /** Hand leadership to `to` once it has caught up (SPEC raft R11). */
  transferLeadership (to: string): void {
    if (this.role !== 'leader') { this.#drop('transfer', '', 0, to, 'not leader'); return }
    if (to === this.id || !this.voters.includes(to)) { this.#drop('transfer', '', 0, to, 'target is self or not a voter'); return }
    this.#leadTransferee = to
    this.#electionElapsed = 0 // the transfer aborts after one election timeout
    const pr = this.#progress.get(to)!
    if (pr.match === this.log.lastIndex()) this.#send(message({ type: 'timeoutNow', from: this.id, to, term: this.term }))
    else this.#sendAppend(to)
  }

  /**
   * The driver persisted a snapshot of the state machine at applied index `index`; drop the
   * log prefix it covers (SPEC raft R7). Returns the snapshot the driver must store.
   */
  compact (index: number, data: Uint8Array): Snapshot {
    assert(index <= this.log.applied, `compact at ${index} ≤ applied ${this.log.applied}`)
    const snapshot: Snapshot = { index, term: this.log.term(index)!, voters: this.#configs.votersAt(index), data }
    this.log.compact(index)
    this.snapshot = snapshot
    this.#configs.compact(index)
    return snapshot
  }

  /** Process one message from a peer (or forwarded request). */
  step (m: Message): void {
    if (m.to !== this.id || m.from === this.id) { this.rejected.misaddressed++; return }
    // SPEC raft "Threat model": speaking the protocol earns nothing; only members are heard
    if (!this.#isMember(m.from) && !this.#unsafeAcceptNonMembers) { this.rejected.notAMember++; return }
    if (m.type === 'prop' || m.type === 'readIndex' || m.type === 'readIndexResp') { this.#stepRequest(m); return }
    if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        const inLease = this.checkQuorum && this.leader !== '' && this.#electionElapsed < this.electionTicks
        if (inLease && !m.force) return // SPEC raft R6: a live leader's followers ignore disruptive campaigns
      }
      if (m.type === 'preVote') {
        // a pre-vote never changes our term (SPEC raft R5)
      } else if (m.type === 'preVoteResp' && !m.reject) {
        // granted pre-votes carry the future term; the campaign proper will raise it
      } else {
        const leader = m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap' ? m.from : ''
        this.#becomeFollower(m.term, leader)
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === 'app' || m.type === 'heartbeat')) {
        // tell a stale leader about the newer term so it steps down (etcd raft.go)
        this.#send(message({ type: 'appResp', from: this.id, to: m.from, term: this.term }))
      } else if (m.type === 'preVote') {
        this.#send(message({ type: 'preVoteResp', from: this.id, to: m.from, term: this.term, reject: true }))
      }
      return
    }
    if (m.type === 'vote' || m.type === 'preVote') { this.#handleVoteRequest(m); return }
    switch (this.role) {
      case 'leader': this.#stepLeader(m); break
      case 'candidate': case 'preCandidate': this.#stepCandidate(m); break
      case 'follower': this.#stepFollower(m); break
    }
  }

  // ---- outputs --------------------------------------------------------------------------

  /** True when drain() would return something to do. */
  hasReady (): boolean {
    if (this.#inflightReady !== null) return false
    return this.#outbox.length > 0 || this.#readStates.length > 0 || this.#events.length > 0 ||
      this.log.unstableSnapshot !== null || this.log.stableIndex < this.log.lastIndex() ||
      this.log.committed > this.log.appliedPending || this.#hardStateChanged()
  }

  /** Take the next batch of effects (SPEC raft E1–E5); call advance(ready) when it is carried out. */
  drain (): Ready {
    assert(this.#inflightReady === null, 'advance() the previous Ready before draining another')
    const ready: Ready = {
      hardState: this.#hardStateChanged() ? this.#hardState() : null,
      snapshot: this.log.unstableSnapshot,
      entries: this.log.unstableEntries(),
      messages: this.#outbox,
      committedEntries: this.log.nextCommittedEntries(),
      readStates: this.#readStates,
      events: this.#events
    }
    this.#outbox = []
    this.#readStates = []
    this.#events = []
    if (ready.hardState !== null) this.#persistedHard = ready.hardState
    const lastCommitted = ready.committedEntries.at(-1)
    if (lastCommitted !== undefined) this.log.appliedPending = lastCommitted.index
    this.#inflightReady = ready
    return ready
  }

  /** The driver persisted, sent and applied `ready` (SPEC raft E1–E4). */
  advance (ready: Ready): void {
    assert(this.#inflightReady === ready, 'advance() the Ready that drain() returned')
    this.#inflightReady = null
    if (ready.snapshot !== null && this.log.unstableSnapshot === ready.snapshot) this.log.unstableSnapshot = null
    const last = ready.entries.at(-1)
    if (last !== undefined) this.log.stableTo(last.index, last.term)
    const lastCommitted = ready.committedEntries.at(-1)
    if (lastCommitted !== undefined) this.log.applied = Math.max(this.log.applied, lastCommitted.index)
    if (this.role === 'leader') {
      // the leader counts itself only for entries it has persisted (SPEC raft E1)
      const self = this.#progress.get(this.id)
      if (self !== undefined && self.maybeUpdate(this.log.stableIndex) && this.#maybeCommit()) this.#broadcastAppend()
    }
  }

  /** One line of soft state for traces. */
  describe (): string {
    return `${this.id} ${this.role} term=${this.term} vote=${this.vote || '-'} leader=${this.leader || '-'} last=${this.log.lastTerm()}/${this.log.lastIndex()} commit=${this.log.committed} applied=${this.log.applied} voters=${this.voters.join(',')}`
  }

  /** Replication progress of `peer` (leader only), for tests and traces. */
  progressOf (peer: string): Progress | undefined { return this.#progress.get(peer) }

  // ---- roles ----------------------------------------------------------------------------

  #becomeFollower (term: number, leader: string): void {
    if (term !== this.term) { this.term = term; this.vote = '' }
    this.role = 'follower'
    this.#setLeader(leader)
    this.#resetRoleState()
  }

  #becomePreCandidate (): void {
    this.role = 'preCandidate'
    this.#setLeader('')
    this.#resetRoleState()
  }

  #becomeCandidate (): void {
    this.term++
    this.vote = this.id
    this.role = 'candidate'
    this.#setLeader('')
    this.#resetRoleState()
  }

  #becomeLeader (): void {
    this.role = 'leader'
    this.#resetRoleState()
    for (const id of this.voters) {
      const pr = new Progress(this.log.lastIndex() + 1)
      pr.recentActive = true
      this.#progress.set(id, pr)
    }
    this.#progress.get(this.id)!.maybeUpdate(this.log.stableIndex)
    this.#pendingConfIndex = this.log.lastIndex() // any conf entry in the log may still be uncommitted
    this.#setLeader(this.id)
    // SPEC raft R3: a no-op of the new term lets earlier-term entries commit by counting
    this.log.append([{ term: this.term, index: this.log.lastIndex() + 1, kind: 'noop', data: new Uint8Array(0), client: '', seq: 0 }])
    this.#broadcastAppend()
  }

  #resetRoleState (): void {
    this.#electionElapsed = 0
    this.#heartbeatElapsed = 0
    this.#resetElectionTimer()
    this.#votes.clear()
    this.#progress.clear()
    this.#leadTransferee = ''
    for (const context of this.#reads.clear(this.id)) this.#dropRead(context, 'leadership lost')
  }

  #setLeader (leader: string): void {
    this.leader = leader
    if (leader !== this.#reportedLeader || this.term !== this.#reportedTerm) {
      // SPEC raft R8: only the leader of the term a read was forwarded in may answer it
      for (const context of this.#forwardedReads) this.#dropRead(context, 'leadership changed')
      this.#forwardedReads.clear()
      this.#reportedLeader = leader
      this.#reportedTerm = this.term
      this.#events.push({ type: 'leader', leader, term: this.term })
    }
  }

  #resetElectionTimer (): void {
    this.#randomizedElectionTimeout = this.#rng.int(this.electionTicks, 2 * this.electionTicks - 1)
  }

  #promotable (): boolean { return this.voters.includes(this.id) }

  /**
   * SPEC raft "Threat model": `id` is a voter of this node's configuration, or is being added by a
   * conf entry in this node's log that has not committed here yet (during a change, both the old
   * and the new configuration are heard; a removal takes effect, as for voting, on commit).
   */
  #isMember (id: string): boolean {
    if (this.voters.includes(id)) return true
    const at = `${this.log.committed}/${this.log.lastIndex()}/${this.log.lastTerm()}`
    if (this.#pendingMembers.at !== at) {
      const ids = new Set<string>()
      for (let i = Math.max(this.log.committed, this.log.snapshotIndex) + 1; i <= this.log.lastIndex(); i++) {
        const e = this.log.entry(i)!
        if (e.kind !== 'conf') continue
        const cc = decodeConfChange(e.data)
        if (cc.op === 'add') ids.add(cc.node)
      }
      this.#pendingMembers = { at, ids }
    }
    return this.#pendingMembers.ids.has(id)
  }

  // ---- timers ---------------------------------------------------------------------------

  #tickElection (): void {
    this.#electionElapsed++
    if (this.#promotable() && this.#electionElapsed >= this.#randomizedElectionTimeout) {
      this.#electionElapsed = 0
      this.#hup(false)
    }
  }

  #tickLeader (): void {
    this.#heartbeatElapsed++
    this.#electionElapsed++
    for (const pr of this.#progress.values()) if (pr.state === 'snapshot' && ++pr.snapshotWaitTicks > this.electionTicks) pr.becomeProbe()
    if (this.#electionElapsed >= this.electionTicks) {
      this.#electionElapsed = 0
      const active = this.#takeRecentlyActive()
      if (this.checkQuorum && !hasQuorum(this.voters, active)) { this.#becomeFollower(this.term, ''); return } // SPEC raft R6
      if (this.#leadTransferee !== '') { this.#drop('transfer', '', 0, this.#leadTransferee, 'target did not catch up in time'); this.#leadTransferee = '' }
    }
    if (this.#heartbeatElapsed >= this.heartbeatTicks) {
      this.#heartbeatElapsed = 0
      this.#broadcastHeartbeat(this.#reads.latestSeq)
    }
  }

  /**
   * Peers heard from during the last election timeout (and this node); starts a new round.
   * SPEC raft R4: a replicating peer that stayed silent for a whole round was down or cut off, and
   * every append counted in flight to it may be lost: probe it again from its match index, so a
   * full inflight window cannot stall its catch-up when it returns (etcd MsgUnreachable).
   */
  #takeRecentlyActive (): Set<string> {
    const active = new Set<string>()
    for (const [id, pr] of this.#progress) {
      if (id === this.id || pr.recentActive) active.add(id)
      else if (pr.state === 'replicate') pr.becomeProbe()
      if (id !== this.id) pr.recentActive = false
    }
    return active
  }

  // ---- elections ------------------------------------------------------------------------

  #hup (transfer: boolean): void {
    if (this.role === 'leader' || !this.#promotable()) return
    this.#campaign(this.preVote && !transfer ? 'preVote' : 'vote', transfer)
  }

  #campaign (kind: 'preVote' | 'vote', transfer: boolean): void {
    let voteTerm: number
    if (kind === 'preVote') { this.#becomePreCandidate(); voteTerm = this.term + 1 } else { this.#becomeCandidate(); voteTerm = this.term }
    this.#votes.set(this.id, true)
    if (voteResult(this.voters, this.#votes) === 'won') {
      if (kind === 'preVote') this.#campaign('vote', false)
      else this.#becomeLeader()
      return
    }
    for (const to of this.voters) {
      if (to === this.id) continue
      this.#send(message({ type: kind, from: this.id, to, term: voteTerm, index: this.log.lastIndex(), logTerm: this.log.lastTerm(), force: transfer }))
    }
  }

  #handleVoteRequest (m: Message): void {
    const respType: MessageType = m.type === 'vote' ? 'voteResp' : 'preVoteResp'
    const canVote = this.vote === m.from || (this.vote === '' && this.leader === '') || (m.type === 'preVote' && m.term > this.term) || this.#unsafeVoteTwice
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      // SPEC raft R1: the vote is persisted (hard state) before this reply leaves (E1)
      this.#send(message({ type: respType, from: this.id, to: m.from, term: m.term }))
      if (m.type === 'vote') { this.#electionElapsed = 0; this.vote = m.from }
    } else {
      this.#send(message({ type: respType, from: this.id, to: m.from, term: this.term, reject: true }))
    }
  }

  #stepCandidate (m: Message): void {
    switch (m.type) {
      case 'app': case 'heartbeat': case 'snap':
        this.#becomeFollower(m.term, m.from)
        this.#stepFollower(m)
        return
      case 'voteResp': case 'preVoteResp': {
        if ((m.type === 'voteResp') !== (this.role === 'candidate')) return // a response to an earlier phase
        this.#votes.set(m.from, !m.reject)
        const result = voteResult(this.voters, this.#votes)
        if (result === 'won') {
          if (this.role === 'preCandidate') this.#campaign('vote', false)
          else this.#becomeLeader()
        } else if (result === 'lost') {
          this.#becomeFollower(this.term, '')
        }
        return
      }
      default:
    }
  }

  // ---- follower -------------------------------------------------------------------------

  #stepFollower (m: Message): void {
    switch (m.type) {
      case 'app': this.#electionElapsed = 0; this.#setLeader(m.from); this.#handleAppend(m); return
      case 'heartbeat': this.#electionElapsed = 0; this.#setLeader(m.from); this.#handleHeartbeat(m); return
      case 'snap': this.#electionElapsed = 0; this.#setLeader(m.from); this.#handleSnapshot(m); return
      case 'timeoutNow': this.#hup(true); return // SPEC raft R11
      default:
    }
  }

  #handleAppend (m: Message): void {
    const reply = (fields: Partial<Message>): void => this.#send(message({ type: 'appResp', from: this.id, to: m.from, term: this.term, ...fields }))
    if (m.index < this.log.committed) { reply({ index: this.log.committed }); return }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.entries)
    if (lastNew !== null) {
      this.#commitTo(Math.min(m.commit, lastNew))
      reply({ index: lastNew }) // sent only after the entries are persisted (E1)
      return
    }
    // SPEC raft R4: hint the leader past a whole conflicting term
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm)
    reply({ index: m.index, reject: true, hintIndex: hint.index, hintTerm: hint.term })
  }

  #handleHeartbeat (m: Message): void {
    this.#commitTo(Math.min(m.commit, this.log.lastIndex()))
    this.#send(message({ type: 'heartbeatResp', from: this.id, to: m.from, term: this.term, context: m.context }))
  }

  #handleSnapshot (m: Message): void {
    const s = m.snapshot
    const reply = (index: number): void => this.#send(message({ type: 'appResp', from: this.id, to: m.from, term: this.term, index }))
    if (s === null) return
    if (s.index <= this.log.committed) { reply(this.log.committed); return }
    if (this.log.matchTerm(s.index, s.term)) { this.#commitTo(s.index); reply(s.index); return }
    this.log.restoreSnapshot(s)
    this.snapshot = s
    this.voters = sortedUnique(s.voters)
    this.#configs.reset(s.index, this.voters)
    reply(s.index)
  }

  // ---- leader ---------------------------------------------------------------------------

  #stepLeader (m: Message): void {
    const pr = this.#progress.get(m.from)
    if (pr === undefined) return
    switch (m.type) {
      case 'appResp': pr.recentActive = true; this.#handleAppendResponse(m, pr); return
      case 'heartbeatResp':
        pr.recentActive = true
        pr.probeSent = false
        // SPEC raft R4: the peer is alive, so free one slot of a full window (etcd FreeFirstOne): the
        // next append either succeeds or is rejected with a hint, and both resume replication
        if (pr.state === 'replicate' && pr.isPaused()) pr.freeFirstInflight()
        if (pr.match < this.log.lastIndex()) this.#sendAppend(m.from)
        if (m.context !== '') this.#ackReads(m.from, Number(m.context))
        return
      default:
    }
  }

  #handleAppendResponse (m: Message, pr: Progress): void {
    if (m.reject) {
      let hint = m.hintIndex
      if (m.hintTerm > 0) hint = this.log.findConflictByTerm(m.hintIndex, m.hintTerm).index
      if (pr.maybeDecrease(m.index, hint)) this.#sendAppend(m.from)
      return
    }
    const wasPaused = pr.isPaused()
    if (!pr.maybeUpdate(Math.min(m.index, this.log.lastIndex()))) {
      if (pr.state === 'probe') this.#sendAppend(m.from)
      return
    }
    if (pr.state === 'probe') pr.becomeReplicate()
    else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) { pr.becomeProbe(); pr.becomeReplicate() }
    if (this.#maybeCommit()) this.#broadcastAppend()
    else if (wasPaused && pr.next > this.log.lastIndex()) this.#sendAppend(m.from) // an empty append carries the commit index
    else this.#sendAppendsWhileOpen(m.from)
    if (m.from === this.#leadTransferee && pr.match === this.log.lastIndex()) {
      this.#send(message({ type: 'timeoutNow', from: this.id, to: m.from, term: this.term }))
    }
  }

  #sendAppendsWhileOpen (to: string): void {
    const pr = this.#progress.get(to)!
    while (!pr.isPaused() && pr.next <= this.log.lastIndex()) {
      const before = pr.next
      this.#sendAppend(to)
      if (pr.next === before) break
    }
  }

  /** SPEC raft R3: commit the majority-acknowledged index only if it is from the current term. */
  #maybeCommit (): boolean {
    const index = committedIndex(this.voters, (id) => this.#progress.get(id)?.match ?? 0)
    if (index <= this.log.committed || (this.log.term(index) !== this.term && !this.#unsafeCommitOldTerm)) return false
    this.#commitTo(index)
    if (this.role === 'leader') for (const r of this.#reads.takeDeferred()) this.#handleReadIndex(r.from, r.context)
    return true
  }

  #sendAppend (to: string): void {
    const pr = this.#progress.get(to)
    if (pr === undefined || to === this.id || pr.isPaused()) return
    const prevIndex = pr.next - 1
    const prevTerm = this.log.term(prevIndex)
    const entries = this.log.slice(pr.next, this.#appendEntriesMax)
    if (prevTerm === undefined || entries === undefined) { this.#sendSnapshot(to, pr); return }
    let bytes = 0
    let count = 0
    while (count < entries.length && (count === 0 || bytes + entries[count]!.data.byteLength <= APPEND_BYTES_MAX)) bytes += entries[count++]!.data.byteLength
    entries.length = count
    this.#send(message({ type: 'app', from: this.id, to, term: this.term, index: prevIndex, logTerm: prevTerm, entries, commit: this.log.committed }))
    pr.sentAppend(prevIndex + entries.length, entries.length)
  }

  #sendSnapshot (to: string, pr: Progress): void {
    const s = this.snapshot
    assert(s !== null, 'a compacted log has a snapshot')
    pr.becomeSnapshot(s.index)
    this.#send(message({ type: 'snap', from: this.id, to, term: this.term, snapshot: s }))
  }

  #broadcastAppend (): void {
    for (const id of this.voters) if (id !== this.id) this.#sendAppend(id)
  }

  #broadcastHeartbeat (readSeq: number): void {
    for (const [id, pr] of this.#progress) {
      if (id === this.id) continue
      this.#send(message({ type: 'heartbeat', from: this.id, to: id, term: this.term, commit: Math.min(pr.match, this.log.committed), context: readSeq === 0 ? '' : String(readSeq) }))
    }
  }

  // ---- requests: proposals and reads (SPEC raft R8, R10) -------------------------------

  #proposeEntry (kind: EntryKind, data: Uint8Array, request: { client: string, seq: number }): void {
    if (data.byteLength > ENTRY_BYTES_MAX) throw new LimitExceededError(`Cannot propose: ${data.byteLength} bytes exceeds ENTRY_BYTES_MAX (${ENTRY_BYTES_MAX})`)
    const entry: Entry = { term: 0, index: 0, kind, data, client: request.client, seq: request.seq }
    this.#stepRequest(message({ type: 'prop', from: this.id, to: this.id, term: 0, entries: [entry] }))
  }

  #stepRequest (m: Message): void {
    if (m.type === 'readIndexResp') {
      // SPEC raft R8: an answer counts only from the current leader, in the current term, for a read
      // this node forwarded and is still waiting for (not a peer's guess, nor an old incarnation's answer)
      const expected = this.role === 'follower' && m.from === this.leader && m.term === this.term && this.#forwardedReads.delete(m.context)
      if (expected) this.#readStates.push({ context: m.context, index: m.index })
      else this.rejected.unexpectedReadResponse++
      return
    }
    if (m.type === 'readIndex') {
      if (this.role === 'leader') this.#handleReadIndex(m.from, m.context)
      else if (m.from === this.id && this.leader !== '') this.#send({ ...m, to: this.leader })
      return
    }
    if (this.role !== 'leader') {
      // forward once (all entries in one message): a proposal that reaches a non-leader from a peer is dropped, not bounced
      if (this.leader !== '' && m.from === this.id) this.#send(message({ type: 'prop', from: this.id, to: this.leader, term: 0, entries: m.entries }))
      else if (m.from === this.id) for (const e of m.entries) this.#drop(e.kind === 'conf' ? 'conf' : 'proposal', e.client, e.seq, '', 'no leader')
      return
    }
    let appended = false
    for (const e of m.entries) appended = this.#handleProposal(e) || appended
    if (appended) this.#broadcastAppend() // one append per follower for the whole batch
  }

  /** Leader: append one proposed entry unless refused; true if appended. */
  #handleProposal (e: Entry): boolean {
    const what = e.kind === 'conf' ? 'conf' : 'proposal'
    if (this.#leadTransferee !== '') { this.#drop(what, e.client, e.seq, '', 'leadership transfer in progress'); return false }
    if (this.log.lastIndex() - this.log.committed >= UNCOMMITTED_ENTRIES_MAX) { this.#drop(what, e.client, e.seq, '', 'too many uncommitted entries'); return false }
    if (e.kind === 'conf') {
      const reason = this.#confChangeRefusal(e.data)
      if (reason !== '') { this.#drop(what, e.client, e.seq, '', reason); return false }
    }
    const index = this.log.lastIndex() + 1
    if (e.kind === 'conf') this.#pendingConfIndex = index
    this.log.append([{ ...e, term: this.term, index }])
    return true
  }

  #confChangeRefusal (data: Uint8Array): string {
    // SPEC raft R9 (the 2015 fix): one change at a time, and only after an entry of this term committed
    if (this.#pendingConfIndex > this.log.committed) return 'a membership change is still uncommitted'
    if (this.log.term(this.log.committed) !== this.term) return 'leader has not committed an entry of its term yet'
    let cc: ConfChange
    try {
      cc = decodeConfChange(data)
    } catch (err) {
      if (!(err instanceof DecodeError) && !(err instanceof LimitExceededError)) throw err
      return err.message // a malformed change never enters the log, so appliers can trust conf entries
    }
    if (cc.op === 'add' && this.voters.includes(cc.node)) return `${cc.node} is already a voter`
    if (cc.op === 'add' && this.voters.length >= VOTERS_MAX) return 'VOTERS_MAX reached'
    if (cc.op === 'remove' && !this.voters.includes(cc.node)) return `${cc.node} is not a voter`
    if (cc.op === 'remove' && this.voters.length === 1) return 'cannot remove the last voter'
    return ''
  }

  #handleReadIndex (from: string, context: string): void {
    if (this.log.term(this.log.committed) !== this.term) {
      // the leader's commit index is only known to be current once an entry of its term committed
      if (!this.#reads.deferUntilCommit(context, from)) this.#dropRead(context, 'too many pending reads', from)
      return
    }
    const read = this.#reads.add(context, from, this.log.committed, this.id)
    if (read === null) { this.#dropRead(context, 'too many pending reads', from); return }
    if (this.#unsafeReadWithoutQuorum) read.acks = new Set(this.voters)
    if (hasQuorum(this.voters, read.acks)) { this.#releaseReads(); return }
    this.#broadcastHeartbeat(read.seq)
  }

  #ackReads (from: string, seq: number): void {
    this.#reads.ack(from, seq)
    this.#releaseReads()
  }

  #releaseReads (): void {
    for (const r of this.#reads.release(this.voters)) {
      if (r.from === this.id) this.#readStates.push({ context: r.context, index: r.index })
      else this.#send(message({ type: 'readIndexResp', from: this.id, to: r.from, term: this.term, index: r.index, context: r.context }))
    }
  }

  #dropRead (context: string, reason: string, from: string = this.id): void {
    if (from === this.id) this.#events.push({ type: 'dropped', what: 'read', client: '', seq: 0, context, reason, leader: this.leader })
  }

  #drop (what: 'proposal' | 'read' | 'transfer' | 'conf', client: string, seq: number, context: string, reason: string): void {
    this.#events.push({ type: 'dropped', what, client, seq, context, reason, leader: this.leader })
  }

  // ---- commit and membership ------------------------------------------------------------

  #commitTo (index: number): void {
    const old = this.log.committed
    if (!this.log.commitTo(index)) return
    this.#applyConfChanges(old, index)
  }

  /** SPEC raft R9: a membership change takes effect on every node when its entry commits. */
  #applyConfChanges (after: number, upTo: number): void {
    for (let i = Math.max(after, this.log.snapshotIndex) + 1; i <= upTo; i++) {
      const e = this.log.entry(i)!
      if (e.kind !== 'conf') continue
      const cc = decodeConfChange(e.data)
      const voters = cc.op === 'add' ? sortedUnique([...this.voters, cc.node]) : this.voters.filter((v) => v !== cc.node)
      this.voters = voters
      this.#configs.push(i, voters)
      if (this.role !== 'leader') continue
      if (cc.op === 'add' && !this.#progress.has(cc.node)) {
        const pr = new Progress(this.log.lastIndex() + 1)
        pr.recentActive = true
        this.#progress.set(cc.node, pr)
      } else if (cc.op === 'remove') {
        this.#progress.delete(cc.node)
        if (cc.node === this.#leadTransferee) this.#leadTransferee = ''
      }
    }
    if (this.role === 'leader' && !this.voters.includes(this.id)) {
      this.#broadcastHeartbeat(0) // let the remaining voters learn the commit of our removal
      this.#becomeFollower(this.term, '')
    }
    else if (this.role === 'leader') { this.#releaseReads(); if (this.#maybeCommit()) this.#broadcastAppend() }
  }

  // ---- helpers --------------------------------------------------------------------------

  #send (m: Message): void { this.#outbox.push(m) }

  #hardState (): HardState { return { term: this.term, vote: this.vote, commit: this.log.committed } }

  #hardStateChanged (): boolean {
    const h = this.#persistedHard
    return h.term !== this.term || h.vote !== this.vote || h.commit !== this.log.committed
  }
}

function sortedUnique (ids: readonly string[]): string[] { return [...new Set(ids)].sort() }
