// Runs one group's pure RaftCore on a clock, a store and a send function, in the SPEC raft effect
// order: persist (fsync) → send → restore/apply → advance → maybe compact. Proposals arriving while
// a Ready is being persisted join the next Ready (group commit). The node runs it on the process's
// clock, LevelDB and libp2p; the simulator runs the same code on a virtual clock, disk and network.

import { TypedEventEmitter } from 'main-event'
import type { Logger } from '@libp2p/interface'
import type { Clock, TimerHandle } from '../kit/clock.ts'
import { describeError, LimitExceededError, NotRunningError } from '../kit/errors.ts'
import { createRng } from '../kit/rng.ts'
import type { Rng } from '../kit/rng.ts'
import { RaftCore } from './core.ts'
import type { RaftCoreOptions } from './core.ts'
import { ENTRIES_MAX, ENTRY_BYTES_MAX } from './messages.ts'
import type { Message } from './messages.ts'
import type { HardState, RaftEvent } from './ready.ts'
import type { RaftStorage } from './storage.ts'
import type { ApplyOutcome, ReplicatedStateMachine } from './state-machine.ts'

/** Applied entries past the last snapshot before the driver snapshots and compacts (SPEC raft E5). */
export const COMPACT_ENTRIES_DEFAULT = 10_000
/**
 * Heartbeat-loss detector default (SPEC raft R6a), in heartbeats: three silent ticks (two missed
 * heartbeats and then some) end a follower's lease; it campaigns a tick later. Fewer would let
 * one late heartbeat on a loaded host start an election; more gives back the failover time the
 * detector is for. Used when the election timeout is longer than SUSPECT_TICKS_DEFAULT + 1 ticks.
 */
export const SUSPECT_TICKS_DEFAULT = 3
/**
 * Memory one log entry costs besides its data (256 B): the entry object, its Uint8Array and that
 * array's own ArrayBuffer, as V8 heap snapshots of a running node show them (~48 + 104 + 96 B).
 * A KV write of 80 B costs ~330 B of heap while it stays in the log.
 */
export const ENTRY_MEMORY_OVERHEAD_BYTES = 256
/**
 * Without an explicit `compactEntries`, the driver also compacts once the applied log past the
 * snapshot costs this much memory (256 KiB, ~800 small writes) or as much as the last snapshot,
 * whichever is more (SPEC raft E5). The state machine already holds the state in memory, so the
 * log never costs more than the larger of this floor and the state, and each snapshot written is
 * paid for by at least as many bytes of log: the write amplification stays ≤ 2. Counting entries
 * alone (10 000 of them) let a light load of small writes hold ~3 MB per group and node for the
 * 20 minutes the count took to fill, which a soak run reads as heap growth.
 */
export const COMPACT_LOG_BYTES_MIN = 256 * 1024
/** Committed-result waiters per group: bounds memory when callers flood a group. */
export const WAITERS_MAX = 65_536

/** Core options only the simulator's checker self-tests set: deliberately broken nodes. Never exposed by `node.groups`. */
export type UnsafeCoreOptions = Pick<RaftCoreOptions, 'unsafeVoteTwice' | 'unsafeReadWithoutQuorum' | 'unsafeCommitOldTerm' | 'unsafeAcceptNonMembers' | 'checkQuorum' | 'appendEntriesMax'>

/** Timing and limits of one driver. */
export interface DriverOptions {
  id: string
  voters: string[]
  heartbeatMs: number
  electionMs: number
  compactEntries?: number
  /**
   * Heartbeat-loss detector (SPEC raft R6a) in ticks (heartbeats): 0 turns it off; default
   * SUSPECT_TICKS_DEFAULT when the election timeout is longer than that plus one tick, else off.
   */
  suspectTicks?: number
  /** Seeds the core's election jitter and the driver's failover jitter. */
  seed: number
  log: Logger
  /** Time and timers: `systemClock` on a node, the simulator's virtual clock under simulation. */
  clock: Clock
  /** Simulator self-tests only: core-level fault injection and append sizing. */
  core?: UnsafeCoreOptions
  /**
   * Simulator self-tests only: send vote grants and append acknowledgements before the fsync that
   * makes them true (breaks SPEC raft E1); a crash in between loses what a quorum counted on.
   */
  unsafeReplyBeforeFsync?: boolean
}

/** Events of a driver: leader changes, dropped requests, applied entries, and its own failure. */
export interface DriverEvents {
  leader: CustomEvent<{ leader: string | null, term: number }>
  dropped: CustomEvent<Extract<RaftEvent, { type: 'dropped' }>>
  applied: CustomEvent<{ index: number }>
  failed: CustomEvent<{ error: Error }>
}

/** What the driver did with its storage, for benchmarks (`sim raft-write`) and status pages. */
export interface DriverStats {
  /** Readies carried out. */
  readies: number
  /** Storage writes that were fsynced (term, vote, entries or a snapshot changed; SPEC raft E1). */
  syncedWrites: number
  /** Commit-only writes left to the OS without fsync. */
  unsyncedWrites: number
  /** Appends and heartbeats a leader sent before its own fsync finished (SPEC raft E2). */
  earlySends: number
}

type Waiter = (outcome: ApplyOutcome) => void
interface ProposalWaiter { done: Waiter, fail: (error: Error) => void }

/** Leader messages that may leave before the leader's own fsync (SPEC raft E2). */
const EARLY_TYPES: ReadonlySet<string> = new Set(['app', 'heartbeat'])
/** Replies the unsafeReplyBeforeFsync injection lets out before the fsync. */
const UNSAFE_EARLY_REPLY_TYPES: ReadonlySet<string> = new Set(['voteResp', 'appResp'])

/** One group's core, storage and state machine, driven by a tick timer and inbound messages. */
export class RaftDriver extends TypedEventEmitter<DriverEvents> {
  readonly core: RaftCore
  readonly options: DriverOptions
  readonly #storage: RaftStorage
  readonly #machine: ReplicatedStateMachine
  readonly #send: (m: Message) => void
  readonly #clock: Clock
  readonly #rng: Rng
  readonly #waiters = new Map<string, ProposalWaiter>()
  readonly #readWaiters = new Map<string, { resolve: (index: number) => void, reject: (error: Error) => void }>()
  readonly #appliedWaiters: Array<{ index: number, resolve: () => void, reject: (error: Error) => void }> = []
  readonly #stats: DriverStats = { readies: 0, syncedWrites: 0, unsyncedWrites: 0, earlySends: 0 }
  #appliedIndex = 0
  #persistedHard: HardState
  #pumping = false
  /** Callers of stop() waiting for the pump to finish its current Ready. */
  readonly #pumpIdle: Array<() => void> = []
  #pumpAgain = false
  #timer: TimerHandle | undefined
  readonly #failoverTimers = new Set<TimerHandle>()
  #stopped = false
  #failure: Error | null = null
  #readSeq = 0
  /** SPEC raft R8: read contexts are unique per incarnation, so an answer meant for an earlier one never completes a read. */
  readonly #readPrefix: string
  #proposals: Array<{ data: Uint8Array, client: string, seq: number }> = []
  /** Memory the applied entries past the snapshot cost (data + ENTRY_MEMORY_OVERHEAD_BYTES each). */
  #appliedLogBytes = 0
  /** Bytes of the last snapshot taken, restored or received: the log may cost as much (E5). */
  #snapshotBytes = 0

  private constructor (core: RaftCore, parts: { storage: RaftStorage, machine: ReplicatedStateMachine, send: (m: Message) => void, options: DriverOptions }, rng: Rng) {
    super()
    this.core = core
    this.options = parts.options
    this.#storage = parts.storage
    this.#machine = parts.machine
    this.#send = parts.send
    this.#clock = parts.options.clock
    this.#rng = rng
    this.#persistedHard = { term: core.term, vote: core.vote, commit: core.log.committed }
    this.#appliedIndex = core.log.snapshotIndex
    const readRng = createRng(parts.options.seed).fork()
    this.#readPrefix = readRng.int(0, 0xffff_ffff).toString(36) + readRng.int(0, 0xffff_ffff).toString(36)
  }

  /** Load what was persisted (SPEC raft "Restart"), restore the state machine and start ticking. */
  static async start (parts: { storage: RaftStorage, machine: ReplicatedStateMachine, send: (m: Message) => void, options: DriverOptions }): Promise<RaftDriver> {
    const o = parts.options
    const persisted = await parts.storage.load() ?? undefined
    if (persisted?.snapshot != null) parts.machine.restore(persisted.snapshot.data)
    const electionTicks = Math.max(2, Math.round(o.electionMs / o.heartbeatMs))
    const rng = createRng(o.seed)
    const suspectTicks = o.suspectTicks ?? (electionTicks > SUSPECT_TICKS_DEFAULT + 1 ? SUSPECT_TICKS_DEFAULT : 0)
    const core = new RaftCore({ ...o.core, id: o.id, voters: o.voters, rng: rng.fork(), electionTicks, heartbeatTicks: 1, suspectTicks, persisted })
    const driver = new RaftDriver(core, parts, rng)
    driver.#snapshotBytes = persisted?.snapshot?.data.byteLength ?? 0
    driver.#timer = o.clock.setInterval(() => { driver.#tick() }, o.heartbeatMs)
    driver.schedule()
    return driver
  }

  /** The state machine committed entries are applied to. */
  get machine (): ReplicatedStateMachine { return this.#machine }
  /** Index of the last entry applied to the state machine. */
  get appliedIndex (): number { return this.#appliedIndex }
  /** Known leader, or null. */
  get leader (): string | null { return this.core.leader === '' ? null : this.core.leader }
  get stopped (): boolean { return this.#stopped }
  /** Why the driver stopped on its own (a storage failure, or the core threw), if it did. */
  get failure (): Error | null { return this.#failure }
  /** What the driver did with its storage so far. */
  stats (): DriverStats { return { ...this.#stats } }

  /** An inbound message from the transport. */
  receive (m: Message): void {
    if (this.#stopped) return
    this.#guard('step', () => { this.core.step(m) })
    this.schedule()
  }

  /**
   * Propose `data` under request id (client, seq); `onOutcome` runs when it is applied here, and
   * `onFailure` (if given) when the driver stops on its own first.
   */
  propose (data: Uint8Array, client: string, seq: number, onOutcome: Waiter, onFailure?: (error: Error) => void): void {
    if (this.#failure !== null) throw this.#failure
    if (data.byteLength > ENTRY_BYTES_MAX) throw new LimitExceededError(`Cannot propose: command of ${data.byteLength} bytes exceeds ENTRY_BYTES_MAX (${ENTRY_BYTES_MAX})`)
    const key = `${client}/${seq}`
    if (!this.#waiters.has(key) && this.#waiters.size >= WAITERS_MAX) throw new LimitExceededError(`Cannot propose: raft group has ${WAITERS_MAX} proposals waiting (WAITERS_MAX)`)
    this.#waiters.set(key, { done: onOutcome, fail: onFailure ?? ((error) => { onOutcome({ ok: false, error: error.message }) }) })
    // group commit: proposals wait here until the pump is free, then enter the core as one batch
    this.#proposals.push({ data, client, seq })
    this.schedule()
  }

  /** Propose without a request id or waiter (the leader's `time` entries, SPEC raft R13). */
  proposeUntracked (data: Uint8Array): void {
    if (this.#stopped) return
    this.#guard('propose', () => { this.core.propose(data) })
    this.schedule()
  }

  /** Run an admin request on the core (membership change, leadership transfer) and carry out its effects. */
  request (fn: (core: RaftCore) => void): void {
    if (this.#stopped) return
    this.#guard('request', () => { fn(this.core) })
    this.schedule()
  }

  /** Forget a proposal's waiter (the caller gave up). */
  forget (client: string, seq: number): void { this.#waiters.delete(`${client}/${seq}`) }

  /** SPEC raft R8: resolves with the read index once it is safe to read at it, or rejects with the drop reason. */
  readIndex (signal: AbortSignal): Promise<number> {
    if (this.#failure !== null) return Promise.reject(this.#failure)
    const context = `${this.#readPrefix}.r${++this.#readSeq}`
    return new Promise<number>((resolve, reject) => {
      const onAbort = (): void => { this.#readWaiters.delete(context); reject(signal.reason) }
      signal.addEventListener('abort', onAbort, { once: true })
      this.#readWaiters.set(context, {
        resolve: (index) => { signal.removeEventListener('abort', onAbort); resolve(index) },
        reject: (error) => { signal.removeEventListener('abort', onAbort); reject(error) }
      })
      this.#guard('read', () => { this.core.readIndex(context) })
      this.schedule()
    })
  }

  /** Resolves once the state machine applied `index`. */
  waitApplied (index: number, signal: AbortSignal): Promise<void> {
    if (this.#appliedIndex >= index) return Promise.resolve()
    if (this.#failure !== null) return Promise.reject(this.#failure)
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        index,
        resolve: () => { signal.removeEventListener('abort', onAbort); resolve() },
        reject: (error: Error) => { signal.removeEventListener('abort', onAbort); reject(error) }
      }
      const onAbort = (): void => {
        const i = this.#appliedWaiters.indexOf(waiter)
        if (i >= 0) this.#appliedWaiters.splice(i, 1)
        reject(signal.reason)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.#appliedWaiters.push(waiter)
    })
  }

  /**
   * Fast failover: the last connection to `peer` closed. If it was our leader, forget it and
   * campaign soon. To avoid split votes the survivors stagger by rank (sorted voters without the
   * lost leader): rank 0 campaigns at once, rank r after r heartbeats plus a little jitter, unless
   * it voted in a newer term or learned a leader meanwhile (a pre-vote alone does not stop it: the
   * pre-candidate may be stuck on peers that had not yet seen the disconnect and ignored it).
   */
  peerLost (peer: string): void {
    if (this.#stopped || this.core.role !== 'follower' || this.core.leader !== peer) return
    this.#guard('forgetLeader', () => { this.core.forgetLeader() })
    this.schedule()
    const term = this.core.term
    const rank = this.core.voters.filter((v) => v !== peer).indexOf(this.options.id)
    const delayMs = rank <= 0 ? 0 : rank * this.options.heartbeatMs + this.#rng.float() * this.options.heartbeatMs / 2
    const timer = this.#clock.setTimeout(() => {
      this.#failoverTimers.delete(timer)
      if (this.#stopped || this.core.role !== 'follower' || this.core.leader !== '' || this.core.term !== term) return
      this.options.log('leader %s lost: campaigning now', peer)
      this.#guard('campaign', () => { this.core.campaign() })
      this.schedule()
    }, delayMs)
    this.#failoverTimers.add(timer)
  }

  /** Carry out pending Readies soon. */
  schedule (): void {
    if (this.#stopped) return
    if (this.#pumping) { this.#pumpAgain = true; return }
    this.#pumping = true
    queueMicrotask(() => { void this.#pump() })
  }

  /** Stop ticking; in-flight storage writes finish first (callers abort their own waits). */
  async stop (): Promise<void> {
    this.#halt()
    if (this.#pumping) await new Promise<void>((resolve) => { this.#pumpIdle.push(resolve) })
    // the last commit-only write may still be in flight: let it land before the store closes
    await this.#storage.flush().catch((err: unknown) => { this.options.log.error('raft storage: last commit-only write failed: %s', describeError(err)) })
  }

  #halt (): void {
    this.#stopped = true
    this.#timer?.cancel()
    for (const t of this.#failoverTimers) t.cancel()
    this.#failoverTimers.clear()
  }

  #tick (): void {
    if (this.#stopped) return
    // a commit-only hard state kept back by the storage is written now (unsynced): SPEC raft E1
    this.#storage.flushCommit()
    this.#guard('tick', () => { this.core.tick() })
    this.schedule()
  }

  /**
   * Run a core input. The core throws only on a broken invariant (an assert): that group can no
   * longer be trusted, so it stops and tells every waiter why, while the node and its other
   * groups keep running.
   */
  #guard (what: string, fn: () => void): void {
    if (this.#stopped) return
    try {
      fn()
    } catch (err) {
      this.#fail(new NotRunningError(`raft group stopped: ${what} threw: ${describeError(err)}`, { cause: err }))
    }
  }

  /** Stop on our own: log it, fail every waiter with `error`, and tell listeners. Idempotent. */
  #fail (error: Error): void {
    if (this.#failure !== null) return
    this.#failure = error
    this.#halt()
    this.options.log.error('raft driver stopped: %s', error.message)
    const waiters = [...this.#waiters.values()]
    this.#waiters.clear()
    for (const w of waiters) w.fail(error)
    const reads = [...this.#readWaiters.values()]
    this.#readWaiters.clear()
    for (const r of reads) r.reject(error)
    const applied = this.#appliedWaiters.splice(0)
    for (const a of applied) a.reject(error)
    this.safeDispatchEvent('failed', { detail: { error } })
  }

  async #pump (): Promise<void> {
    try {
      do {
        this.#pumpAgain = false
        this.#flushProposals()
        while (!this.#stopped && this.core.hasReady()) {
          await this.#handleReady()
          this.#flushProposals()
        }
      } while (this.#pumpAgain && !this.#stopped)
    } catch (err) {
      // storage failed (disk full, database closed): stop rather than send unpersisted promises
      this.#fail(new NotRunningError(`raft group stopped: storage or apply failed: ${describeError(err)}`, { cause: err }))
    } finally {
      this.#pumping = false
      for (const resolve of this.#pumpIdle.splice(0)) resolve()
    }
  }

  #flushProposals (): void {
    while (!this.#stopped && this.#proposals.length > 0) {
      const batch = this.#proposals.splice(0, ENTRIES_MAX)
      this.#guard('propose', () => { this.core.proposeBatch(batch) })
    }
  }

  async #handleReady (): Promise<void> {
    const ready = this.core.drain()
    this.#stats.readies++
    // SPEC raft E2 (leader refinement, Raft thesis §10.2.1): an established leader's appends and
    // heartbeats do not depend on its own fsync (it counts itself only after advance), so they go
    // out in parallel with the write. Everything else waits for E1.
    const hard = ready.hardState
    const sameTermAndVote = hard === null || (hard.term === this.#persistedHard.term && hard.vote === this.#persistedHard.vote)
    const early = this.core.role === 'leader' && sameTermAndVote
    const sendsEarly = (m: Message): boolean => (early && EARLY_TYPES.has(m.type)) ||
      (this.options.unsafeReplyBeforeFsync === true && UNSAFE_EARLY_REPLY_TYPES.has(m.type) && !m.reject)
    for (const m of ready.messages) {
      if (!sendsEarly(m)) continue
      this.#send(m)
      this.#stats.earlySends++
    }
    // E1: persist, fsync
    const written = await this.#storage.persist(ready, this.#persistedHard)
    if (written.synced) this.#stats.syncedWrites++
    else if (ready.hardState !== null) this.#stats.unsyncedWrites++
    if (ready.hardState !== null) this.#persistedHard = ready.hardState
    // E2: send
    for (const m of ready.messages) if (!sendsEarly(m)) this.#send(m)
    // E3: restore, apply, serve reads, report events
    if (ready.snapshot !== null) {
      this.#machine.restore(ready.snapshot.data)
      this.#appliedIndex = ready.snapshot.index
      this.#snapshotBytes = ready.snapshot.data.byteLength
      this.#appliedLogBytes = 0
    }
    for (const entry of ready.committedEntries) {
      const result = this.#machine.apply(entry)
      const outcome = result instanceof Promise ? await result : result
      this.#appliedIndex = entry.index
      this.#appliedLogBytes += entry.data.byteLength + ENTRY_MEMORY_OVERHEAD_BYTES
      if (entry.client !== '') {
        const key = `${entry.client}/${entry.seq}`
        const waiter = this.#waiters.get(key)
        if (waiter !== undefined) { this.#waiters.delete(key); waiter.done(outcome) }
      }
    }
    if (ready.committedEntries.length > 0 || ready.snapshot !== null) this.#releaseApplied()
    for (const rs of ready.readStates) {
      const waiter = this.#readWaiters.get(rs.context)
      if (waiter !== undefined) { this.#readWaiters.delete(rs.context); waiter.resolve(rs.index) }
    }
    for (const e of ready.events) {
      if (e.type === 'leader') this.options.log('leader %s term %d', e.leader === '' ? 'none' : e.leader.slice(-6), e.term)
      if (e.type === 'leader') this.safeDispatchEvent('leader', { detail: { leader: e.leader === '' ? null : e.leader, term: e.term } })
      else {
        if (e.what === 'read') {
          const waiter = this.#readWaiters.get(e.context)
          if (waiter !== undefined) { this.#readWaiters.delete(e.context); waiter.reject(new Error(`read dropped: ${e.reason}`)) }
        }
        this.safeDispatchEvent('dropped', { detail: e })
      }
    }
    // E4
    this.core.advance(ready)
    // E5
    await this.#maybeCompact()
  }

  #releaseApplied (): void {
    for (let i = this.#appliedWaiters.length - 1; i >= 0; i--) {
      const w = this.#appliedWaiters[i]!
      if (w.index <= this.#appliedIndex) { this.#appliedWaiters.splice(i, 1); w.resolve() }
    }
    if (this.listenerCount('applied') > 0) this.safeDispatchEvent('applied', { detail: { index: this.#appliedIndex } })
  }

  async #maybeCompact (): Promise<void> {
    const applied = this.core.log.applied
    const past = applied - this.core.log.snapshotIndex
    if (past <= 0) return
    const explicit = this.options.compactEntries
    if (explicit !== undefined) {
      if (past < explicit) return
    } else if (past < COMPACT_ENTRIES_DEFAULT && this.#appliedLogBytes < Math.max(COMPACT_LOG_BYTES_MIN, this.#snapshotBytes)) {
      return
    }
    const data = this.#machine.snapshot()
    if (data === null) return
    const snapshot = this.core.compact(applied, data)
    this.#snapshotBytes = data.byteLength
    this.#appliedLogBytes = 0
    await this.#storage.saveSnapshot(snapshot)
    this.options.log('compacted raft log at %d (%d entries, snapshot %d B)', applied, past, data.byteLength)
  }
}
