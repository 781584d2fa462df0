// A deterministic simulated raft cluster: pure cores, a seeded virtual clock and network
// (drop, duplicate, delay/reorder, partitions), durable storage that survives crashes while
// unpersisted state does not, and per-node clock-rate skew. Invariants are checked every step.

import { createRng } from '../../protocols/kit/rng.ts'
import type { Rng } from '../../protocols/kit/rng.ts'
import { RaftCore } from '../../protocols/raft/core.ts'
import type { PersistedState } from '../../protocols/raft/core.ts'
import { KvStateMachine } from '../../protocols/raft/kv.ts'
import type { KvResult } from '../../protocols/raft/kv.ts'
import { decodeMessage, describeMessage, encodeMessage } from '../../protocols/raft/messages.ts'
import type { Entry, Message } from '../../protocols/raft/messages.ts'
import type { Ready } from '../../protocols/raft/ready.ts'
import { describeReady } from '../../protocols/raft/ready.ts'
import { EventQueue } from './event-queue.ts'
import { InvariantChecker } from './invariants.ts'

/** Network and timing knobs; all can change during a run (faults, then heal). */
export interface NetworkFaults {
  dropRate: number
  duplicateRate: number
  delayMinMs: number
  delayMaxMs: number
}

/** Options of a simulated cluster. */
export interface ClusterOptions {
  seed: number
  /** All node ids that exist (some may join later). */
  nodeIds: string[]
  /** Genesis voters. */
  voters: string[]
  tickMs?: number
  /** Each node's tick interval is tickMs × a factor in [1 − skew, 1 + skew]. */
  clockSkew?: number
  electionTicks?: number
  heartbeatTicks?: number
  /** Apply this many entries, then compact the log into a snapshot. */
  compactEvery?: number
  /** Round-trip every message through the wire codec. */
  useCodec?: boolean
  /** Fault injection for checker self-tests: a node that grants every vote. */
  unsafeVoteTwice?: string
  /** Fault injection for checker self-tests: a driver that does not persist its vote. */
  unsafeForgetVote?: boolean
  /** Fault injection for checker self-tests: no check-quorum, and reads served without a heartbeat quorum. */
  unsafeReads?: boolean
  /** Fault injection for checker self-tests: leaders commit earlier-term entries by counting (no Figure 8 rule). */
  unsafeCommitOldTerm?: boolean
  /** Entries per append message (core option appendEntriesMax); small values make acks split terms. */
  appendEntriesMax?: number
  /** Fault injection for checker self-tests: a node whose state machine sees a mutated entry at this index. */
  corruptApplyAt?: { node: string, index: number }
  /** Fault injection for checker self-tests: state machines ignore request ids, so a retried write applies twice (breaks R12). */
  unsafeNoDedup?: boolean
  /** Fault injection for checker self-tests: cores hear non-members too (drops the membership check). */
  unsafeAcceptNonMembers?: boolean
  /**
   * Model the adapter's fast failover (SPEC raft "Fast failover"): when a node crashes, each live
   * follower connected to it that sees it as leader calls forgetLeader(), then campaign() after a
   * jitter of up to one heartbeat.
   */
  fastFailover?: boolean
  /** Slowest fsync in ms (default 2): a Ready waits up to this long, and a crash meanwhile loses it. */
  diskDelayMaxMs?: number
  /** Keep a trace of every step (slow; for replaying one seed). */
  trace?: boolean
}

/** What a node wrote durably (fsynced); this is all that survives a crash. */
interface DurableStorage { hardState: { term: number, vote: string, commit: number }, snapshot: PersistedState['snapshot'], entries: Entry[] }

type SimEvent =
  | { kind: 'tick', node: string, incarnation: number }
  | { kind: 'ready', node: string, incarnation: number }
  | { kind: 'deliver', message: Message }
  | { kind: 'call', fn: () => void }

/** One simulated process. */
export class SimNode {
  readonly id: string
  core: RaftCore | null = null
  sm = new KvStateMachine()
  storage: DurableStorage = { hardState: { term: 0, vote: '', commit: 0 }, snapshot: null, entries: [] }
  incarnation = 0
  tickMs: number
  readyScheduled = false
  wasLeaderTerm = -1
  /** Proposals waiting for their entry to be applied here: "client/seq" → callback. */
  readonly waitingProposals = new Map<string, (r: KvResult) => void>()
  /** Reads waiting for a read state and then for the apply index. */
  readonly waitingReads = new Map<string, { key: string, index: number, done: (v: string | null) => void }>()
  readonly dropListeners = new Map<string, () => void>()

  constructor (id: string, tickMs: number) { this.id = id; this.tickMs = tickMs }
  /** True while the process runs. */
  get up (): boolean { return this.core !== null }
}

/** The simulated cluster. */
export class SimCluster {
  readonly options: ClusterOptions
  readonly rng: Rng
  readonly nodes = new Map<string, SimNode>()
  readonly checker = new InvariantChecker()
  readonly queue = new EventQueue<SimEvent>()
  readonly trace: string[] = []
  faults: NetworkFaults = { dropRate: 0, duplicateRate: 0, delayMinMs: 1, delayMaxMs: 5 }
  /** Directed links that drop everything: "a>b". */
  readonly blocked = new Set<string>()
  now = 0
  messagesSent = 0
  messagesDelivered = 0
  commits = 0
  crashes = 0
  /** An adversary's targeted message loss: a message for which this returns true is dropped. */
  dropFilter: ((m: Message) => boolean) | null = null
  /** Called when a node becomes leader of a new term (fault schedules hook in here). */
  onNewLeader: ((id: string, term: number) => void) | null = null
  /** First exception thrown by a core (a failed assertion is a bug). */
  crashError: Error | null = null
  readonly #nodeRng: Rng
  readonly #members: ReadonlySet<string>

  constructor (options: ClusterOptions) {
    this.options = options
    this.rng = createRng(options.seed)
    this.#nodeRng = this.rng.fork()
    this.#members = new Set(options.nodeIds)
    const tickMs = options.tickMs ?? 10
    const skew = options.clockSkew ?? 0
    for (const id of options.nodeIds) {
      const factor = 1 + skew * (2 * this.rng.float() - 1)
      this.nodes.set(id, new SimNode(id, Math.max(1, Math.round(tickMs * factor))))
    }
    for (const id of options.nodeIds) this.start(id)
  }

  /** The node with this id. */
  node (id: string): SimNode { return this.nodes.get(id)! }

  /** Start (or restart) a node from its durable storage. */
  start (id: string): void {
    const n = this.node(id)
    if (n.up) return
    n.incarnation++
    const s = n.storage
    n.core = new RaftCore({
      id,
      voters: this.options.voters,
      rng: this.#nodeRng.fork(),
      electionTicks: this.options.electionTicks ?? 10,
      heartbeatTicks: this.options.heartbeatTicks ?? 1,
      persisted: { hardState: { ...s.hardState }, snapshot: s.snapshot, entries: [...s.entries] },
      unsafeVoteTwice: this.options.unsafeVoteTwice === id,
      checkQuorum: this.options.unsafeReads !== true,
      unsafeReadWithoutQuorum: this.options.unsafeReads === true,
      unsafeCommitOldTerm: this.options.unsafeCommitOldTerm === true,
      unsafeAcceptNonMembers: this.options.unsafeAcceptNonMembers === true,
      ...(this.options.appendEntriesMax !== undefined ? { appendEntriesMax: this.options.appendEntriesMax } : {})
    })
    this.checker.checkRestoredLog(n.core, this.now)
    n.sm = s.snapshot === null ? new KvStateMachine() : KvStateMachine.restore(s.snapshot.data)
    n.wasLeaderTerm = -1
    n.readyScheduled = false
    this.#schedule(this.now + this.rng.int(1, n.tickMs), { kind: 'tick', node: id, incarnation: n.incarnation })
    this.#log(`${id} start (incarnation ${n.incarnation}) ${n.core.describe()}`)
  }

  /** Crash a node: everything not yet persisted is lost, pending requests die with it (`silent`: peers get no connection close). */
  crash (id: string, silent = false): void {
    const n = this.node(id)
    if (!n.up) return
    n.core = null
    n.waitingProposals.clear()
    n.waitingReads.clear()
    n.dropListeners.clear()
    this.crashes++
    this.#log(`${id} crash`)
    if (this.options.fastFailover === true && !silent) this.#noticeCrash(id)
  }

  #noticeCrash (id: string): void {
    const heartbeatMs = (this.options.heartbeatTicks ?? 1) * (this.options.tickMs ?? 10)
    for (const n of this.nodes.values()) {
      if (n.core?.leader !== id || n.core.role !== 'follower' || this.blocked.has(`${id}>${n.id}`)) continue
      const incarnation = n.incarnation
      const noticeAt = this.now + this.rng.int(1, 5) // the connection reports the close
      this.at(noticeAt, () => {
        if (n.core === null || n.incarnation !== incarnation || n.core.leader !== id) return
        this.#log(`${n.id} saw leader ${id} die: forget it, campaign soon`)
        n.core.forgetLeader()
        this.#afterInput(n)
        this.at(this.now + this.rng.int(0, heartbeatMs), () => {
          if (n.core === null || n.incarnation !== incarnation || n.core.leader !== '') return
          n.core.campaign()
          this.#afterInput(n)
        })
      })
    }
  }

  /** Run `fn` at virtual time `atMs`. */
  at (atMs: number, fn: () => void): void { this.#schedule(atMs, { kind: 'call', fn }) }

  /** Process events until virtual time `untilMs` (or until a violation when stopOnViolation). */
  runUntil (untilMs: number, stopOnViolation = true): void {
    while (this.queue.peekTime() <= untilMs) {
      if (stopOnViolation && (this.checker.violations.length > 0 || this.crashError !== null)) return
      const ev = this.queue.pop()!
      this.now = ev.at
      try {
        this.#handle(ev.value)
      } catch (err) {
        if (this.crashError === null) this.crashError = err as Error
        this.#log(`exception: ${(err as Error).stack ?? String(err)}`)
        if (stopOnViolation) return
      }
    }
    this.now = untilMs
  }

  /** The node that currently believes it leads with the highest term, if it is up. */
  leader (): SimNode | undefined {
    let best: SimNode | undefined
    for (const n of this.nodes.values()) if (n.core?.role === 'leader' && (best === undefined || n.core.term > best.core!.term)) best = n
    return best
  }

  /** Apply `fn` to a live node's core and let its Ready be processed. */
  withCore (id: string, fn: (core: RaftCore) => void): boolean {
    const n = this.node(id)
    if (n.core === null) return false
    fn(n.core)
    this.#afterInput(n)
    return true
  }

  #schedule (at: number, ev: SimEvent): void { this.queue.push(at, ev) }

  /** Deliver a message from outside the cluster (a non-member's) after the usual network delay. */
  inject (m: Message): void {
    this.#log(`outsider sends ${describeMessage(m)}`)
    const wire = decodeMessage(encodeMessage(m)) // an outsider's bytes pass the same decoder
    this.#schedule(this.now + this.rng.int(this.faults.delayMinMs, this.faults.delayMaxMs), { kind: 'deliver', message: wire })
  }

  /** Add a line to the trace (faults and admin actions, from the run script). */
  note (line: string): void { this.#log(line) }

  #log (line: string): void { if (this.options.trace === true) this.trace.push(`${String(this.now).padStart(6)}ms ${line}`) }

  #handle (ev: SimEvent): void {
    switch (ev.kind) {
      case 'call': ev.fn(); return
      case 'tick': {
        const n = this.node(ev.node)
        if (n.core === null || n.incarnation !== ev.incarnation) return
        n.core.tick()
        this.#afterInput(n)
        this.#schedule(this.now + n.tickMs, ev)
        return
      }
      case 'deliver': {
        const m = ev.message
        const n = this.nodes.get(m.to)
        if (n?.core == null || this.blocked.has(`${m.from}>${m.to}`)) return
        this.messagesDelivered++
        this.#log(`deliver ${describeMessage(m)}`)
        n.core.step(m)
        this.#afterInput(n)
        return
      }
      case 'ready': {
        const n = this.node(ev.node)
        if (n.core === null || n.incarnation !== ev.incarnation) return
        n.readyScheduled = false
        this.#processReady(n)
        return
      }
    }
  }

  #afterInput (n: SimNode): void {
    const core = n.core!
    this.checker.checkMembership(core, this.#members, this.now)
    if (core.role === 'leader' && n.wasLeaderTerm !== core.term) {
      n.wasLeaderTerm = core.term
      this.checker.checkNewLeader(core, this.now)
      this.#log(`${n.id} became leader of term ${core.term}`)
      if (this.onNewLeader !== null) { const hook = this.onNewLeader; const term = core.term; this.at(this.now, () => hook(n.id, term)) }
    }
    if (!n.readyScheduled && core.hasReady()) {
      n.readyScheduled = true
      // the disk write takes time; a crash before it loses the whole batch (SPEC raft E1)
      this.#schedule(this.now + this.rng.int(0, this.options.diskDelayMaxMs ?? 2), { kind: 'ready', node: n.id, incarnation: n.incarnation })
    }
  }

  #processReady (n: SimNode): void {
    const core = n.core!
    if (!core.hasReady()) return
    const ready = core.drain()
    if (this.options.trace === true) for (const line of describeReady(ready)) this.#log(`${n.id} ${line}`)
    this.checker.checkPersistedEntries(core, ready.entries, this.now)
    this.#persist(n, ready) // E1: durable before anything leaves
    for (const m of ready.messages) this.#send(m) // E2
    this.#apply(n, ready) // E3
    core.advance(ready) // E4
    this.#compactMaybe(n)
    this.#afterInput(n)
  }

  #persist (n: SimNode, ready: Ready): void {
    const s = n.storage
    if (ready.hardState !== null) s.hardState = { ...ready.hardState, vote: this.options.unsafeForgetVote === true ? '' : ready.hardState.vote }
    if (ready.snapshot !== null) {
      s.snapshot = ready.snapshot
      s.entries = [] // a leader's snapshot replaces the whole log: a stored suffix after it may be divergent (E1)
      n.sm = KvStateMachine.restore(ready.snapshot.data)
      for (const [key, r] of n.waitingReads) if (r.index <= n.sm.appliedIndex && r.index > 0) { n.waitingReads.delete(key); r.done(n.sm.read(r.key)) }
    }
    const first = ready.entries[0]
    if (first !== undefined) {
      const keep = s.entries.findIndex((e) => e.index >= first.index)
      if (keep !== -1) s.entries.length = keep
      s.entries.push(...ready.entries)
    }
  }

  #send (m: Message): void {
    this.messagesSent++
    if (this.blocked.has(`${m.from}>${m.to}`) || this.rng.chance(this.faults.dropRate)) return
    if (this.dropFilter !== null && this.dropFilter(m)) { this.#log(`adversary drops ${describeMessage(m)}`); return }
    const copies = this.rng.chance(this.faults.duplicateRate) ? 2 : 1
    for (let i = 0; i < copies; i++) {
      const wire = this.options.useCodec === true ? decodeMessage(encodeMessage(m)) : m
      this.#schedule(this.now + this.rng.int(this.faults.delayMinMs, this.faults.delayMaxMs), { kind: 'deliver', message: wire })
    }
  }

  #apply (n: SimNode, ready: Ready): void {
    for (const e of ready.committedEntries) {
      let entry = e
      const corrupt = this.options.corruptApplyAt
      if (corrupt !== undefined && corrupt.node === n.id && corrupt.index === e.index) entry = { ...e, seq: e.seq + 1000 }
      this.checker.checkApplied(n.id, entry, n.sm.appliedIndex, this.now)
      const result = n.sm.apply(this.options.unsafeNoDedup === true ? { ...entry, client: '' } : entry)
      this.commits++
      if (entry.client !== '') {
        const key = `${entry.client}/${entry.seq}`
        const waiting = n.waitingProposals.get(key)
        if (waiting !== undefined) { n.waitingProposals.delete(key); n.dropListeners.delete(key); waiting(result) }
      }
    }
    for (const rs of ready.readStates) {
      const r = n.waitingReads.get(rs.context)
      if (r !== undefined) r.index = Math.max(rs.index, 1)
    }
    for (const [key, r] of n.waitingReads) {
      if (r.index > 0 && r.index <= n.sm.appliedIndex) { n.waitingReads.delete(key); n.dropListeners.delete(key); r.done(n.sm.read(r.key)) }
    }
    for (const ev of ready.events) {
      if (ev.type !== 'dropped') continue
      const key = ev.context !== '' ? ev.context : `${ev.client}/${ev.seq}`
      const listener = n.dropListeners.get(key)
      if (listener !== undefined) { n.dropListeners.delete(key); listener() }
    }
  }

  #compactMaybe (n: SimNode): void {
    const every = this.options.compactEvery ?? 0
    const core = n.core!
    if (every <= 0 || core.log.applied - core.log.snapshotIndex < every) return
    const snapshot = core.compact(core.log.applied, n.sm.snapshot())
    n.storage.snapshot = snapshot
    n.storage.entries = n.storage.entries.filter((e) => e.index > snapshot.index)
    this.#log(`${n.id} compacted to ${snapshot.term}/${snapshot.index}`)
  }
}
