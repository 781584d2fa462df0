// A deterministic simulated raft cluster that runs the production code: each node is a real
// RaftDriver with the real RaftStorage and state machine, on a simulated clock (per-node rate
// skew), disk (fsync delay; a crash loses unsynced writes, maybe tearing the last batch) and a
// seeded network (drop, duplicate, delay/reorder, partitions). Invariants are checked as it runs.

import type { Logger } from '@libp2p/interface'
import { createRng } from '../../protocols/kit/rng.ts'
import type { Rng } from '../../protocols/kit/rng.ts'
import type { RaftCore } from '../../protocols/raft/core.ts'
import { RaftDriver } from '../../protocols/raft/driver.ts'
import type { UnsafeCoreOptions } from '../../protocols/raft/driver.ts'
import { decodeMessage, describeMessage, encodeMessage } from '../../protocols/raft/messages.ts'
import type { Entry, Message } from '../../protocols/raft/messages.ts'
import { BuiltInKv } from '../../protocols/raft/state-machine.ts'
import type { ApplyOutcome, ReplicatedStateMachine } from '../../protocols/raft/state-machine.ts'
import { RaftStorage } from '../../protocols/raft/storage.ts'
import type { PersistResult } from '../../protocols/raft/storage.ts'
import type { PersistedState } from '../../protocols/raft/core.ts'
import { describeReady } from '../../protocols/raft/ready.ts'
import type { HardState, Ready } from '../../protocols/raft/ready.ts'
import type { Snapshot } from '../../protocols/raft/messages.ts'
import { settle, SimClock } from '../kit/sim-clock.ts'
import type { ProcessClock } from '../kit/sim-clock.ts'
import { SimDisk } from '../kit/sim-disk.ts'
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
  /** The drivers' heartbeatMs: one core tick. */
  tickMs?: number
  /** Each node's clock runs at a rate in [1 − skew, 1 + skew]. */
  clockSkew?: number
  /** Election timeout in ticks (the drivers' electionMs = electionTicks × tickMs). */
  electionTicks?: number
  /** The drivers' compactEntries: apply this many entries, then compact the log into a snapshot (0: never). */
  compactEvery?: number
  /** Round-trip every message through the wire codec. */
  useCodec?: boolean
  /** Fault injection for checker self-tests: a node that grants every vote (core option). */
  unsafeVoteTwice?: string
  /** Fault injection for checker self-tests: a storage that does not persist the vote. */
  unsafeForgetVote?: boolean
  /** Fault injection for checker self-tests: no check-quorum, and reads served without a heartbeat quorum (core options). */
  unsafeReads?: boolean
  /** Fault injection for checker self-tests: leaders commit earlier-term entries by counting (core option). */
  unsafeCommitOldTerm?: boolean
  /** Fault injection for checker self-tests: drivers reply to votes and appends before their fsync. */
  unsafeReplyBeforeFsync?: boolean
  /** Entries per append message (core option appendEntriesMax); small values make acks split terms. */
  appendEntriesMax?: number
  /** Fault injection for checker self-tests: a node whose state machine sees a mutated entry at this index. */
  corruptApplyAt?: { node: string, index: number }
  /** Fault injection for checker self-tests: state machines ignore request ids, so a retried write applies twice (breaks R12). */
  unsafeNoDedup?: boolean
  /** Fault injection for checker self-tests: cores hear non-members too (drops the membership check). */
  unsafeAcceptNonMembers?: boolean
  /**
   * The service's fast failover (SPEC raft "Fast failover"): when a node crashes, each live
   * follower whose leader it was sees the connection close and calls the driver's peerLost().
   */
  fastFailover?: boolean
  /** The drivers' suspectTicks (SPEC raft R6a): undefined = the driver's default, 0 = detector off. */
  suspectTicks?: number
  /** Slowest fsync in ms (default 2): a crash before it completes loses the write. */
  diskDelayMaxMs?: number
  /** Keep a trace of every step (slow; for replaying one seed). */
  trace?: boolean
  /**
   * The state machine each incarnation of a node applies to (an app's `CustomStateMachine`, as a
   * node hosts a task queue); default the built-in KV. The apply-order checks (I4, I5) wrap it.
   */
  createMachine?: (node: string) => ReplicatedStateMachine
}

/** A logger that drops everything: the simulator's trace says what happened. */
function quietLogger (): Logger {
  const log = Object.assign(() => {}, { error: () => {}, trace: () => {}, enabled: false, newScope: () => log })
  return log as unknown as Logger
}

/** One simulated process and its disk (a crash leaves an image; the next incarnation gets a new disk on it). */
export class SimNode {
  readonly id: string
  readonly rate: number
  disk: SimDisk
  incarnation = 0
  /** True from start() to crash(), including while the driver loads its storage. */
  running = false
  driver: RaftDriver | null = null
  machine: SimMachine | null = null
  clock: ProcessClock | null = null
  wasLeaderTerm = -1
  /** Listeners for dropped proposals of this incarnation: "client/seq" → callback. */
  readonly dropListeners = new Map<string, () => void>()

  constructor (id: string, rate: number, disk: SimDisk) { this.id = id; this.rate = rate; this.disk = disk }
  /** True while the process runs and its driver has started. */
  get up (): boolean { return this.driver !== null }
  /** The running core, if up. */
  get core (): RaftCore | null { return this.driver?.core ?? null }
}

/** The simulated cluster. */
export class SimCluster {
  readonly options: ClusterOptions
  readonly rng: Rng
  readonly nodes = new Map<string, SimNode>()
  readonly checker = new InvariantChecker()
  readonly clock = new SimClock()
  readonly trace: string[] = []
  faults: NetworkFaults = { dropRate: 0, duplicateRate: 0, delayMinMs: 1, delayMaxMs: 5 }
  /** Directed links that drop everything: "a>b". */
  readonly blocked = new Set<string>()
  /**
   * Frozen nodes (a paused process, SPEC raft "A leader that comes back from a pause"): messages
   * to and from them are held, not lost, and delivered late when `thaw` releases them.
   */
  readonly frozen = new Set<string>()
  #held: Message[] = []
  messagesSent = 0
  messagesDelivered = 0
  commits = 0
  crashes = 0
  /** An adversary's targeted message loss: a message for which this returns true is dropped. */
  dropFilter: ((m: Message) => boolean) | null = null
  /** Called when a node becomes leader of a new term (fault schedules hook in here). */
  onNewLeader: ((id: string, term: number) => void) | null = null
  /** A pending crash-at-fsync fault: the next fsync `node` starts is cut short by a crash, and the node restarts `restartAfterMs` later (null: stays down). */
  #fsyncCrash: { node: string, restartAfterMs: number | null } | null = null
  /** First exception: a driver that stopped on its own (a core assertion, a storage failure) or a simulator bug. */
  crashError: Error | null = null
  readonly #nodeRng: Rng
  readonly #diskRngs = new Map<string, Rng>()
  readonly #members: ReadonlySet<string>

  constructor (options: ClusterOptions) {
    this.options = options
    this.rng = createRng(options.seed)
    this.#nodeRng = this.rng.fork()
    this.#members = new Set(options.nodeIds)
    const skew = options.clockSkew ?? 0
    const diskRng = this.rng.fork()
    for (const id of options.nodeIds) {
      const rate = 1 + skew * (2 * this.rng.float() - 1)
      const rng = diskRng.fork()
      this.#diskRngs.set(id, rng)
      this.nodes.set(id, new SimNode(id, rate, this.#newDisk(id, undefined)))
    }
    for (const id of options.nodeIds) this.start(id)
  }

  /** A disk for the next incarnation of `id`, on what the last one left. */
  #newDisk (id: string, image: Map<string, Uint8Array> | undefined): SimDisk {
    const timing = { writeMinMs: 0, writeMaxMs: this.options.diskDelayMaxMs ?? 2 }
    return new SimDisk({ clock: this.clock, rng: this.#diskRngs.get(id)!.fork(), image, timing, onSync: () => { this.#onSync(id) } })
  }

  /** Virtual time in ms. */
  get now (): number { return this.clock.nowMs() }

  /** The node with this id. */
  node (id: string): SimNode { return this.nodes.get(id)! }

  /** Start (or restart) a node: its driver loads what its disk kept (SPEC raft "Restart"). */
  start (id: string): void {
    const n = this.node(id)
    if (n.running) return
    n.running = true
    const incarnation = ++n.incarnation
    const o = this.options
    const clock = this.clock.view({ rate: n.rate })
    n.clock = clock
    if (this.frozen.has(id)) clock.freeze() // restarted while paused: it stays paused until thawed
    n.wasLeaderTerm = -1
    const machine = new SimMachine(this, n)
    const storage = new CheckedStorage(this, n)
    const tickMs = o.tickMs ?? 10
    const core: UnsafeCoreOptions = {}
    if (o.unsafeVoteTwice === id) core.unsafeVoteTwice = true
    if (o.unsafeReads === true) { core.checkQuorum = false; core.unsafeReadWithoutQuorum = true }
    if (o.unsafeCommitOldTerm === true) core.unsafeCommitOldTerm = true
    if (o.unsafeAcceptNonMembers === true) core.unsafeAcceptNonMembers = true
    if (o.appendEntriesMax !== undefined) core.appendEntriesMax = o.appendEntriesMax
    const seed = this.#nodeRng.int(0, 0xffff_ffff)
    RaftDriver.start({
      storage,
      machine,
      send: (m) => { if (n.incarnation === incarnation) this.#send(m) },
      options: {
        id,
        voters: o.voters,
        heartbeatMs: tickMs,
        electionMs: (o.electionTicks ?? 10) * tickMs,
        compactEntries: (o.compactEvery ?? 0) > 0 ? o.compactEvery! : Number.MAX_SAFE_INTEGER,
        ...(o.suspectTicks !== undefined ? { suspectTicks: o.suspectTicks } : {}),
        seed,
        log: quietLogger(),
        clock,
        core,
        unsafeReplyBeforeFsync: o.unsafeReplyBeforeFsync === true
      }
    }).then((driver) => {
      if (n.incarnation !== incarnation) { void driver.stop(); return }
      n.driver = driver
      n.machine = machine
      driver.addEventListener('failed', (e) => { this.crashError ??= e.detail.error; this.#log(`${id} driver failed: ${e.detail.error.message}`) })
      driver.addEventListener('dropped', (e) => {
        const d = e.detail
        if (d.what !== 'proposal') return
        const key = `${d.client}/${d.seq}`
        const listener = n.dropListeners.get(key)
        if (listener !== undefined) { n.dropListeners.delete(key); listener() }
      })
      this.checker.checkRestoredLog(driver.core, this.now)
      if (o.trace === true) this.#log(`${id} start (incarnation ${incarnation}) ${driver.core.describe()}`)
    }, (err: unknown) => {
      this.crashError ??= err as Error
      this.#log(`${id} failed to start: ${(err as Error).message}`)
    })
  }

  /** Crash a node: its timers die, its disk loses what was not fsynced, pending requests die with it (`silent`: peers see no connection close). */
  crash (id: string, silent = false): void {
    const n = this.node(id)
    if (!n.running) return
    n.running = false
    n.incarnation++
    n.clock?.kill()
    n.clock = null
    n.driver = null
    n.machine = null
    n.dropListeners.clear()
    n.disk = this.#newDisk(id, n.disk.crash())
    this.crashes++
    this.#log(`${id} crash`)
    if (this.options.fastFailover === true && !silent) this.#noticeCrash(id)
  }

  /**
   * Power-cut `node` while its next fsync is in flight (whatever it wrote since its last completed
   * fsync may be lost); the crash runs as the next event, before that fsync can complete.
   */
  crashAtNextFsync (node: string, restartAfterMs: number | null): void { this.#fsyncCrash = { node, restartAfterMs } }
  /** Drop a pending crash-at-fsync fault (the heal). */
  cancelFsyncCrash (): void { this.#fsyncCrash = null }

  #onSync (id: string): void {
    const f = this.#fsyncCrash
    if (f === null || f.node !== id) return
    this.#fsyncCrash = null
    const incarnation = this.node(id).incarnation
    this.at(this.now, () => {
      if (this.node(id).incarnation !== incarnation) return
      this.#log(`fault: ${id} crashes during an fsync`)
      this.crash(id)
      if (f.restartAfterMs !== null) this.at(this.now + f.restartAfterMs, () => { this.start(id) })
    })
  }

  /** Followers connected to a crashed leader see the connection close and call peerLost (src/raft/service.ts). */
  #noticeCrash (id: string): void {
    for (const n of this.nodes.values()) {
      if (n.core?.leader !== id || this.blocked.has(`${id}>${n.id}`)) continue
      const incarnation = n.incarnation
      this.at(this.now + this.rng.int(1, 5), () => { // the transport reports the close
        if (n.incarnation !== incarnation || n.driver === null) return
        this.#log(`${n.id} saw the connection to ${id} close`)
        n.driver.peerLost(id)
      })
    }
  }

  /** Run `fn` at virtual time `atMs`. */
  at (atMs: number, fn: () => void): void { this.clock.at(atMs, fn) }

  /** Process events until virtual time `untilMs` (or until a violation when stopOnViolation). */
  async runUntil (untilMs: number, stopOnViolation = true): Promise<void> {
    await settle() // whatever the caller started (a restart's storage load) runs first
    this.#watchLeaders()
    while (this.clock.nextAtMs() <= untilMs) {
      if (stopOnViolation && (this.checker.violations.length > 0 || this.crashError !== null)) return
      try {
        this.clock.step(untilMs)
      } catch (err) {
        this.crashError ??= err as Error
        this.#log(`exception: ${(err as Error).stack ?? String(err)}`)
        if (stopOnViolation) return
      }
      await settle() // the drivers' storage awaits and microtasks run before the next event
      this.#watchLeaders()
    }
    this.clock.advanceTo(untilMs)
  }

  /** The node that currently believes it leads with the highest term, if it is up. */
  leader (): SimNode | undefined {
    let best: SimNode | undefined
    for (const n of this.nodes.values()) if (n.core?.role === 'leader' && (best === undefined || n.core.term > best.core!.term)) best = n
    return best
  }

  /** Run an admin request on a live node's core through its driver (transfer, membership change, campaign). */
  withCore (id: string, fn: (core: RaftCore) => void): boolean {
    const d = this.node(id).driver
    if (d === null) return false
    d.request(fn)
    return true
  }

  /** Deliver a message from outside the cluster (a non-member's) to a member's driver after the usual network delay. */
  inject (m: Message): void {
    this.#log(`outsider sends ${describeMessage(m)}`)
    const wire = decodeMessage(encodeMessage(m)) // an outsider's bytes pass the same decoder
    this.at(this.now + this.rng.int(this.faults.delayMinMs, this.faults.delayMaxMs), () => { this.#deliver(wire) })
  }

  /** Add a line to the trace (faults and admin actions, from the run script). */
  note (line: string): void { this.#log(line) }

  #log (line: string): void { if (this.options.trace === true) this.trace.push(`${String(this.now).padStart(6)}ms ${line}`) }

  #watchLeaders (): void {
    for (const n of this.nodes.values()) {
      const core = n.core
      if (core !== null) this.checker.checkMembership(core, this.#members, this.now)
      if (core?.role !== 'leader' || n.wasLeaderTerm === core.term) continue
      n.wasLeaderTerm = core.term
      this.checker.checkNewLeader(core, this.now)
      this.#log(`${n.id} became leader of term ${core.term}`)
      if (this.onNewLeader !== null) { const hook = this.onNewLeader; const term = core.term; this.at(this.now, () => hook(n.id, term)) }
    }
  }

  #send (m: Message): void {
    this.messagesSent++
    if (this.blocked.has(`${m.from}>${m.to}`) || this.rng.chance(this.faults.dropRate)) return
    if (this.dropFilter !== null && this.dropFilter(m)) { if (this.options.trace === true) this.#log(`adversary drops ${describeMessage(m)}`); return }
    const copies = this.rng.chance(this.faults.duplicateRate) ? 2 : 1
    for (let i = 0; i < copies; i++) {
      const wire = this.options.useCodec === true ? decodeMessage(encodeMessage(m)) : m
      this.at(this.now + this.rng.int(this.faults.delayMinMs, this.faults.delayMaxMs), () => { this.#deliver(wire) })
    }
  }

  /**
   * Freeze `id` (SIGSTOP): its timers stop firing (so it neither ticks nor steps down by
   * check-quorum), and what it sends and what is sent to it waits until `thaw`.
   */
  freeze (id: string): void {
    this.frozen.add(id)
    this.node(id).clock?.freeze()
  }

  /**
   * Thaw `id` (every node when omitted): its late timers fire (one tick), and its held messages
   * go out with the usual delay, in order.
   */
  thaw (id?: string): void {
    const ids = id === undefined ? [...this.frozen] : [id]
    for (const x of ids) { this.frozen.delete(x); this.node(x).clock?.thaw() }
    const held = this.#held
    this.#held = []
    for (const m of held) {
      if (this.frozen.has(m.from) || this.frozen.has(m.to)) this.#held.push(m)
      else this.at(this.now + this.rng.int(this.faults.delayMinMs, this.faults.delayMaxMs), () => { this.#deliver(m) })
    }
  }

  #deliver (m: Message): void {
    if (this.frozen.has(m.from) || this.frozen.has(m.to)) { this.#held.push(m); return }
    const n = this.nodes.get(m.to)
    if (n?.driver == null || this.blocked.has(`${m.from}>${m.to}`)) return
    this.messagesDelivered++
    if (this.options.trace === true) this.#log(`deliver ${describeMessage(m)}`)
    n.driver.receive(m)
  }

  /** Count one applied entry (for metrics). */
  countCommit (): void { this.commits++ }
  /** Trace one line from a node's storage or machine. */
  logFrom (id: string, line: string): void { this.#log(`${id} ${line}`) }
}

/** The node's state machine (the built-in KV unless the cluster hosts another) as the driver applies it, with the apply-order and state-machine-safety checks (I4, I5) and the self-test faults. */
export class SimMachine implements ReplicatedStateMachine {
  readonly inner: ReplicatedStateMachine
  readonly #cluster: SimCluster
  readonly #node: SimNode
  /** Index of the last entry a hosted machine applied (null after a restore, until the next apply). */
  #appliedIndex: number | null = 0

  constructor (cluster: SimCluster, node: SimNode) {
    this.#cluster = cluster
    this.#node = node
    this.inner = cluster.options.createMachine?.(node.id) ?? new BuiltInKv()
  }

  get appliedIndex (): number { return this.inner instanceof BuiltInKv ? this.inner.machine.appliedIndex : this.#appliedIndex ?? -1 }

  /** A local read of the built-in KV. */
  read (key: string): string | null {
    if (!(this.inner instanceof BuiltInKv)) throw new TypeError('read(key) needs the built-in KV; this cluster hosts another state machine')
    return this.inner.machine.read(key)
  }

  apply (e: Entry): ApplyOutcome | Promise<ApplyOutcome> {
    const c = this.#cluster
    let entry = e
    const corrupt = c.options.corruptApplyAt
    if (corrupt !== undefined && corrupt.node === this.#node.id && corrupt.index === e.index) entry = { ...e, seq: e.seq + 1000 }
    // a hosted machine's snapshot does not say its index: the first apply after a restore sets the base
    const previous = this.inner instanceof BuiltInKv ? this.inner.machine.appliedIndex : this.#appliedIndex ?? entry.index - 1
    c.checker.checkApplied(this.#node.id, entry, previous, c.now)
    c.countCommit()
    this.#appliedIndex = entry.index
    return this.inner.apply(c.options.unsafeNoDedup === true ? { ...entry, client: '' } : entry)
  }

  snapshot (): Uint8Array | null { return this.inner.snapshot() }
  restore (data: Uint8Array): void { this.inner.restore(data); this.#appliedIndex = null }
}

/**
 * The real RaftStorage, with the log-matching check (I2) on every batch of entries it writes. It
 * keeps the term of each index it stored, so the check sees exactly what reaches the disk.
 */
class CheckedStorage extends RaftStorage {
  readonly #cluster: SimCluster
  readonly #node: SimNode
  readonly #terms = new Map<number, number>()
  #snapshot: { index: number, term: number } = { index: 0, term: 0 }
  #last = 0

  constructor (cluster: SimCluster, node: SimNode) {
    super(node.disk)
    this.#cluster = cluster
    this.#node = node
  }

  override async load (): Promise<PersistedState | null> {
    const state = await super.load()
    if (state?.snapshot != null) this.#snapshot = { index: state.snapshot.index, term: state.snapshot.term }
    for (const e of state?.entries ?? []) this.#terms.set(e.index, e.term)
    this.#last = state?.entries.at(-1)?.index ?? this.#snapshot.index
    return state
  }

  override async persist (ready: Ready, previous: HardState): Promise<PersistResult> {
    const c = this.#cluster
    if (c.options.trace === true) for (const line of describeReady(ready)) c.logFrom(this.#node.id, line)
    if (ready.snapshot !== null) {
      this.#terms.clear()
      this.#snapshot = { index: ready.snapshot.index, term: ready.snapshot.term }
      this.#last = ready.snapshot.index
    }
    if (ready.entries.length > 0) {
      const first = ready.entries[0]!.index
      for (let i = first; i <= this.#last; i++) this.#terms.delete(i)
      const termOf = (i: number): number | undefined => i === this.#snapshot.index ? this.#snapshot.term : this.#terms.get(i)
      c.checker.checkPersistedEntries(this.#node.id, ready.entries, termOf, c.now)
      for (const e of ready.entries) this.#terms.set(e.index, e.term)
      this.#last = ready.entries.at(-1)!.index
    }
    if (c.options.unsafeForgetVote === true && ready.hardState !== null) {
      return super.persist({ ...ready, hardState: { ...ready.hardState, vote: '' } }, previous)
    }
    return super.persist(ready, previous)
  }

  override async saveSnapshot (snapshot: Snapshot): Promise<void> {
    for (let i = this.#snapshot.index + 1; i <= snapshot.index; i++) this.#terms.delete(i)
    this.#snapshot = { index: snapshot.index, term: snapshot.term }
    this.#cluster.logFrom(this.#node.id, `compacted to ${snapshot.term}/${snapshot.index}`)
    await super.saveSnapshot(snapshot)
  }
}
