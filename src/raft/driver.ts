// Runs one group's pure RaftCore on real time and real streams, in the SPEC raft effect order:
// persist (fsync) → send → restore/apply → advance → maybe compact. Proposals arriving while a
// Ready is being persisted join the next Ready (group commit).

import { TypedEventEmitter } from 'main-event'
import type { Logger } from '@libp2p/interface'
import { describeError, LimitExceededError } from '../../protocols/kit/errors.ts'
import { createRng } from '../../protocols/kit/rng.ts'
import { RaftCore } from '../../protocols/raft/core.ts'
import { ENTRIES_MAX, ENTRY_BYTES_MAX } from '../../protocols/raft/messages.ts'
import type { Message } from '../../protocols/raft/messages.ts'
import type { HardState, RaftEvent } from '../../protocols/raft/ready.ts'
import type { RaftStorage } from './storage.ts'
import type { ApplyOutcome, ReplicatedStateMachine } from './state-machine.ts'

/** Applied entries past the last snapshot before the driver snapshots and compacts (SPEC raft E5). */
export const COMPACT_ENTRIES_DEFAULT = 10_000
/** Committed-result waiters per group: bounds memory when callers flood a group. */
export const WAITERS_MAX = 65_536

/** Timing and limits of one driver. */
export interface DriverOptions {
  id: string
  voters: string[]
  heartbeatMs: number
  electionMs: number
  compactEntries?: number
  seed: number
  log: Logger
}

/** Events of a driver: leader changes, dropped requests, applied entries. */
export interface DriverEvents {
  leader: CustomEvent<{ leader: string | null, term: number }>
  dropped: CustomEvent<Extract<RaftEvent, { type: 'dropped' }>>
  applied: CustomEvent<{ index: number }>
}

type Waiter = (outcome: ApplyOutcome) => void

/** Leader messages that may leave before the leader's own fsync (SPEC raft E2). */
const EARLY_TYPES: ReadonlySet<string> = new Set(['app', 'heartbeat'])

/** One group's core, storage and state machine, driven by a tick timer and inbound messages. */
export class RaftDriver extends TypedEventEmitter<DriverEvents> {
  readonly core: RaftCore
  readonly options: DriverOptions
  readonly #storage: RaftStorage
  readonly #machine: ReplicatedStateMachine
  readonly #send: (m: Message) => void
  readonly #waiters = new Map<string, Waiter>()
  readonly #readWaiters = new Map<string, (index: number | null, reason: string) => void>()
  readonly #appliedWaiters: Array<{ index: number, resolve: () => void }> = []
  #appliedIndex = 0
  #persistedHard: HardState
  #pumping = false
  #pumpAgain = false
  #timer: ReturnType<typeof setInterval> | undefined
  #stopped = false
  #failure: Error | null = null
  #readSeq = 0
  /** SPEC raft R8: read contexts are unique per incarnation, so an answer meant for an earlier one never completes a read. */
  readonly #readPrefix: string
  #proposals: Array<{ data: Uint8Array, client: string, seq: number }> = []

  private constructor (core: RaftCore, parts: { storage: RaftStorage, machine: ReplicatedStateMachine, send: (m: Message) => void, options: DriverOptions }) {
    super()
    this.core = core
    this.options = parts.options
    this.#storage = parts.storage
    this.#machine = parts.machine
    this.#send = parts.send
    this.#persistedHard = { term: core.term, vote: core.vote, commit: core.log.committed }
    this.#appliedIndex = core.log.snapshotIndex
    const rng = createRng(parts.options.seed).fork()
    this.#readPrefix = rng.int(0, 0xffff_ffff).toString(36) + rng.int(0, 0xffff_ffff).toString(36)
  }

  /** Load what was persisted (SPEC raft "Restart"), restore the state machine and start ticking. */
  static async start (parts: { storage: RaftStorage, machine: ReplicatedStateMachine, send: (m: Message) => void, options: DriverOptions }): Promise<RaftDriver> {
    const o = parts.options
    const persisted = await parts.storage.load() ?? undefined
    if (persisted?.snapshot != null) parts.machine.restore(persisted.snapshot.data)
    const electionTicks = Math.max(2, Math.round(o.electionMs / o.heartbeatMs))
    const core = new RaftCore({ id: o.id, voters: o.voters, rng: createRng(o.seed), electionTicks, heartbeatTicks: 1, persisted })
    const driver = new RaftDriver(core, parts)
    driver.#timer = setInterval(() => { driver.#tick() }, o.heartbeatMs)
    driver.#timer.unref?.()
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
  /** Why the driver stopped on its own (a storage failure), if it did. */
  get failure (): Error | null { return this.#failure }

  /** An inbound message from the transport. */
  receive (m: Message): void {
    if (this.#stopped) return
    this.core.step(m)
    this.schedule()
  }

  /** Propose `data` under request id (client, seq); `onOutcome` runs when it is applied here. */
  propose (data: Uint8Array, client: string, seq: number, onOutcome: Waiter): void {
    if (data.byteLength > ENTRY_BYTES_MAX) throw new LimitExceededError(`Cannot propose: command of ${data.byteLength} bytes exceeds ENTRY_BYTES_MAX (${ENTRY_BYTES_MAX})`)
    const key = `${client}/${seq}`
    if (!this.#waiters.has(key) && this.#waiters.size >= WAITERS_MAX) throw new Error(`raft group has ${WAITERS_MAX} proposals waiting (WAITERS_MAX)`)
    this.#waiters.set(key, onOutcome)
    // group commit: proposals wait here until the pump is free, then enter the core as one batch
    this.#proposals.push({ data, client, seq })
    this.schedule()
  }

  /** Propose without a request id or waiter (the leader's `time` entries, SPEC raft R13). */
  proposeUntracked (data: Uint8Array): void {
    this.core.propose(data)
    this.schedule()
  }

  /** Forget a proposal's waiter (the caller gave up). */
  forget (client: string, seq: number): void { this.#waiters.delete(`${client}/${seq}`) }

  /** SPEC raft R8: resolves with the read index once it is safe to read at it, or rejects with the drop reason. */
  readIndex (signal: AbortSignal): Promise<number> {
    const context = `${this.#readPrefix}.r${++this.#readSeq}`
    return new Promise<number>((resolve, reject) => {
      const onAbort = (): void => { this.#readWaiters.delete(context); reject(signal.reason) }
      signal.addEventListener('abort', onAbort, { once: true })
      this.#readWaiters.set(context, (index, reason) => {
        signal.removeEventListener('abort', onAbort)
        if (index === null) reject(new Error(reason)); else resolve(index)
      })
      this.core.readIndex(context)
      this.schedule()
    })
  }

  /** Resolves once the state machine applied `index`. */
  waitApplied (index: number, signal: AbortSignal): Promise<void> {
    if (this.#appliedIndex >= index) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      const waiter = { index, resolve: () => { signal.removeEventListener('abort', onAbort); resolve() } }
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
   * Fast failover: the connection to `peer` closed. If it was our leader, forget it and campaign
   * soon. To avoid split votes the survivors stagger by rank (sorted voters without the lost
   * leader): rank 0 campaigns at once, rank r after r heartbeats plus a little jitter, unless
   * it voted in a newer term or learned a leader meanwhile (a pre-vote alone does not stop it: the
   * pre-candidate may be stuck on peers that had not yet seen the disconnect and ignored it).
   */
  peerLost (peer: string): void {
    if (this.#stopped || this.core.role !== 'follower' || this.core.leader !== peer) return
    this.core.forgetLeader()
    this.schedule()
    const term = this.core.term
    const rank = this.core.voters.filter((v) => v !== peer).indexOf(this.options.id)
    const delayMs = rank <= 0 ? 0 : rank * this.options.heartbeatMs + Math.random() * this.options.heartbeatMs / 2
    setTimeout(() => {
      if (this.#stopped || this.core.role !== 'follower' || this.core.leader !== '' || this.core.term !== term) return
      this.options.log('leader %s lost: campaigning now', peer)
      this.core.campaign()
      this.schedule()
    }, delayMs).unref?.()
  }

  /** Carry out pending Readies soon. */
  schedule (): void {
    if (this.#stopped) return
    if (this.#pumping) { this.#pumpAgain = true; return }
    this.#pumping = true
    queueMicrotask(() => { void this.#pump() })
  }

  /** Stop ticking and drop waiters; in-flight storage writes finish first. */
  async stop (): Promise<void> {
    this.#stopped = true
    clearInterval(this.#timer)
    while (this.#pumping) await new Promise((resolve) => setTimeout(resolve, 1))
  }

  #tick (): void {
    if (this.#stopped) return
    this.core.tick()
    this.schedule()
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
      this.#failure = err as Error
      this.#stopped = true
      clearInterval(this.#timer)
      this.options.log.error('raft driver stopped: %s', describeError(err))
    } finally {
      this.#pumping = false
    }
  }

  #flushProposals (): void {
    while (this.#proposals.length > 0) this.core.proposeBatch(this.#proposals.splice(0, ENTRIES_MAX))
  }

  async #handleReady (): Promise<void> {
    const ready = this.core.drain()
    // SPEC raft E2 (leader refinement, Raft thesis §10.2.1): an established leader's appends and
    // heartbeats do not depend on its own fsync (it counts itself only after advance), so they go
    // out in parallel with the write. Everything else waits for E1.
    const hard = ready.hardState
    const sameTermAndVote = hard === null || (hard.term === this.#persistedHard.term && hard.vote === this.#persistedHard.vote)
    const early = this.core.role === 'leader' && sameTermAndVote
    if (early) for (const m of ready.messages) if (EARLY_TYPES.has(m.type)) this.#send(m)
    // E1: persist, fsync
    await this.#storage.persist(ready, this.#persistedHard)
    if (ready.hardState !== null) this.#persistedHard = ready.hardState
    // E2: send
    for (const m of ready.messages) if (!early || !EARLY_TYPES.has(m.type)) this.#send(m)
    // E3: restore, apply, serve reads, report events
    if (ready.snapshot !== null) {
      this.#machine.restore(ready.snapshot.data)
      this.#appliedIndex = ready.snapshot.index
    }
    for (const entry of ready.committedEntries) {
      const result = this.#machine.apply(entry)
      const outcome = result instanceof Promise ? await result : result
      this.#appliedIndex = entry.index
      if (entry.client !== '') {
        const key = `${entry.client}/${entry.seq}`
        const waiter = this.#waiters.get(key)
        if (waiter !== undefined) { this.#waiters.delete(key); waiter(outcome) }
      }
    }
    if (ready.committedEntries.length > 0 || ready.snapshot !== null) this.#releaseApplied()
    for (const rs of ready.readStates) {
      const waiter = this.#readWaiters.get(rs.context)
      if (waiter !== undefined) { this.#readWaiters.delete(rs.context); waiter(rs.index, '') }
    }
    for (const e of ready.events) {
      if (e.type === 'leader') this.options.log('leader %s term %d', e.leader === '' ? 'none' : e.leader.slice(-6), e.term)
      if (e.type === 'leader') this.safeDispatchEvent('leader', { detail: { leader: e.leader === '' ? null : e.leader, term: e.term } })
      else {
        if (e.what === 'read') {
          const waiter = this.#readWaiters.get(e.context)
          if (waiter !== undefined) { this.#readWaiters.delete(e.context); waiter(null, `read dropped: ${e.reason}`) }
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
    this.safeDispatchEvent('applied', { detail: { index: this.#appliedIndex } })
  }

  async #maybeCompact (): Promise<void> {
    const applied = this.core.log.applied
    if (applied - this.core.log.snapshotIndex < (this.options.compactEntries ?? COMPACT_ENTRIES_DEFAULT)) return
    const data = this.#machine.snapshot()
    if (data === null) return
    const snapshot = this.core.compact(applied, data)
    await this.#storage.saveSnapshot(snapshot)
    this.options.log('compacted raft log at %d', applied)
  }
}
