// A queue hosted on one of its members: the task machine as the Raft group's apply, the batcher
// that turns many requests into one `batch` proposal, long-polls woken by the machine's updates,
// and the leader's driver (leader-changed, ticks, worker-dead, calls for bids and awards).
// libp2p-free: the group, the clock and the outbound links are ports. SPEC tasks "Hosting".

import type { Logger } from '@libp2p/interface'
import type { Clock, TimerHandle } from '../kit/clock.ts'
import { cborBytesBound } from '../kit/cbor.ts'
import { AbortedError, NotRunningError, describeError } from '../kit/errors.ts'
import { errorFromRefusal } from './errors.ts'
import { createTaskMachine } from './machine.ts'
import type { TaskMachine, TaskMachineOptions, TaskView } from './machine.ts'
import { BATCH_COMMANDS_MAX, COMMAND_BYTES_MAX, HELD_LEASES_MAX, commandFromRequest, validateTaskCommand } from './messages.ts'
import type { LeaseKind, SingleCommand, TaskCommand, TaskRequest } from './messages.ts'
import type { LeaseGrant, TaskResult, TaskSuccess } from './results.ts'
import { TERMINAL_STATES, WORKERS_MAX } from './state.ts'
import type { TaskUpdate } from './state.ts'
import { ENDS_PER_FRAME_MAX } from './wire.ts'
import type { TaskEnd } from './wire.ts'

/** What a hosted queue uses of its Raft group (a `RaftGroup` joined with the machine's apply). */
export interface QueueGroup {
  propose (command: unknown, options?: { signal?: AbortSignal, timeoutMs?: number }): Promise<unknown>
  read<T> (query: () => T, options?: { signal?: AbortSignal, timeoutMs?: number }): Promise<T>
  isLeader (): boolean
  term (): number
  leader (): string | null
  /** Call `fn` on every leader change; returns the unsubscribe. */
  onLeader (fn: (leader: string | null, term: number) => void): () => void
  leave (): Promise<void>
}

/** Joins the queue's Raft group with the given apply and snapshot hooks. */
export type JoinQueueGroup = (name: string, options: { members: string[], apply: (command: unknown, context: { index: number }) => unknown, snapshot: { snapshot: () => Uint8Array, restore: (data: Uint8Array) => void }, heartbeatMs?: number, electionMs?: number }) => Promise<QueueGroup>

/** Proposals of one queue in flight at once: while they commit, new requests gather into the next batch. */
export const PROPOSALS_IN_FLIGHT_MAX = 2
/** Requests waiting for a proposal: past this new ones are refused (the member is overloaded). */
export const PENDING_COMMANDS_MAX = 8192
/** Bytes of one batch proposal: one Raft entry, less room for the batch envelope and the session fields. */
export const BATCH_BYTES_MAX = COMMAND_BYTES_MAX - 1024
/** Long-polls (claims and waits) parked on one member: each holds a timer and a promise. */
export const PARKED_MAX = 4096
/** The leader moves the replicated clock this often: lease expiry is noticed within it (a tick shares its entry with other commands). */
export const TICK_MS_DEFAULT = 200
/** How long the leader collects bids after calling for them (contract-net bid window). */
export const BID_WINDOW_MS_DEFAULT = 300

/** The leader publishes the transitions it applied this often, as one event (the author rate limit of the events service is 100/s). */
export const PUBLISH_INTERVAL_MS = 250
/**
 * Transitions in one event: ~80 bytes each, so an event stays far under EVENT_BYTES_MAX (256 KiB).
 * Past it within one interval the oldest are dropped and counted (readers re-read with get).
 */
export const TRANSITIONS_PER_EVENT_MAX = 1024

/** Publishes one event on a topic (the events service). */
export type PublishEvent = (topic: string, event: { type: string, data: Array<{ taskId: string, state: string, attempt: number, atMs: number }> }) => Promise<void>

/** Resubmits a task forwarded to a fallback queue (the leader's driver, SPEC "What the driver must do" 5). */
export type ForwardTask = (fallbackQueue: string, task: TaskView, idempotencyKey: string) => Promise<void>

/** A claimed task as a member hands it out: the lease with the stored input, feedback and (validate) output. */
export interface ClaimedWire { lease: LeaseGrant, input: Uint8Array, feedback?: string, output?: Uint8Array, leaseMs: number }

/** Sends tasks that ended to the peer that submitted them (an `end` frame, ENDS_PER_FRAME_MAX each). */
export type PushEnds = (peer: string, ends: TaskEnd[]) => void

/**
 * Tasks submitted through this member whose submitters wait for a pushed end: one map entry each.
 * Past it the oldest is forgotten (counted); its submitter asks for the end after PUSH_WAIT_MS.
 */
export const END_WAITERS_MAX = 8192

/** A call for bids for a worker: the leader sends it over the link. */
export type SendCallForBids = (worker: string, call: { queue: string, taskId: string, attempt: number, input: Uint8Array }) => void

interface Pending { command: SingleCommand, bytes: number, resolve: (r: TaskResult) => void, reject: (e: Error) => void }
interface Parked { wake: () => void }

/** A task's change signature: a waiter is woken when it differs. */
export function taskSignature (t: TaskView | undefined): string {
  if (t === undefined) return 'none'
  const last = t.history.at(-1)
  return `${t.state}/${t.attempt}/${t.history.length}/${last?.atMs ?? 0}/${t.lease?.token ?? 0}`
}

/** A task's end as pushed to its submitter. */
export function endOf (t: TaskView): TaskEnd {
  const e: TaskEnd = { t: t.id, s: t.state }
  if (t.result !== undefined && t.state === 'completed') e.r = t.result
  if (t.error !== undefined) e.x = { type: t.error.type, message: t.error.message }
  return e
}

/** One queue hosted on this member. */
export class HostedQueue {
  readonly name: string
  readonly members: string[]
  readonly machine: TaskMachine
  group!: QueueGroup
  readonly #self: string
  readonly #clock: Clock
  readonly #log: Logger
  readonly #tickMs: number
  readonly #bidWindowMs: number
  readonly #sendCfb: SendCallForBids
  readonly #pending: Pending[] = []
  #inFlight = 0
  #stopped = false
  /** Parked claims: woken when something becomes claimable or a lease is pushed. */
  readonly #parked = new Set<Parked>()
  /** Bumped whenever a task becomes claimable: a claim that came back empty waits for the next bump. */
  #readyVersion = 0
  /** Tasks whose last update said `submitted` / `validating` (wakes pull claims without a scan). */
  readonly #ready = new Set<string>()
  readonly #validating = new Set<string>()
  #epoch = -1
  #leaderSinceMs = 0
  #tickPending = false
  #ticker: TimerHandle | undefined
  #unLeader: (() => void) | undefined
  readonly #bidTimers = new Map<string, TimerHandle>()
  /** Counters: proposals made and commands they carried; transitions published and dropped. */
  /** `leaseExpiries`: attempts this replica saw end because their lease ran out (metrics). */
  /** `endsPushed` / `endWaitersDropped`: ends pushed to submitters, and registrations forgotten past END_WAITERS_MAX. */
  readonly counters = { proposals: 0, commands: 0, refused: 0, published: 0, publishDropped: 0, leaseExpiries: 0, endsPushed: 0, endWaitersDropped: 0 }
  readonly #pushEnds: PushEnds | undefined
  /** Task id → the peer to push its end to (insertion order: oldest first). */
  readonly #endWaiters = new Map<string, string>()
  readonly #publish: PublishEvent | undefined
  readonly #forward: ForwardTask | undefined
  #transitions: Array<{ taskId: string, state: string, attempt: number, atMs: number }> = []
  #publisher: TimerHandle | undefined
  #publishing = false

  constructor (parts: { name: string, self: string, options: TaskMachineOptions & { members: string[] }, clock: Clock, log: Logger, sendCallForBids: SendCallForBids, publish?: PublishEvent, forward?: ForwardTask, pushEnds?: PushEnds, tickMs?: number, bidWindowMs?: number }) {
    this.name = parts.name
    this.#self = parts.self
    this.#clock = parts.clock
    this.#log = parts.log
    this.#tickMs = parts.tickMs ?? TICK_MS_DEFAULT
    this.#bidWindowMs = parts.bidWindowMs ?? BID_WINDOW_MS_DEFAULT
    this.#sendCfb = parts.sendCallForBids
    this.#publish = parts.publish
    this.#forward = parts.forward
    this.#pushEnds = parts.pushEnds
    const { machine } = createTaskMachine(parts.options)
    this.machine = machine
    this.members = machine.policy.members
  }

  /** The `apply` for the group: the machine, then wake whoever waits on what changed. */
  apply = (command: unknown, context: { index: number }): TaskResult => {
    const result = this.machine.apply(command, context)
    const updates = this.machine.drainUpdates()
    if (updates.length > 0) this.#onUpdates(updates)
    return result
  }

  /** Snapshot hooks for the group; a restore rebuilds the wake-up sets. */
  snapshotHooks = {
    snapshot: (): Uint8Array => this.machine.snapshot(),
    restore: (data: Uint8Array): void => {
      this.machine.restore(data)
      this.machine.drainUpdates()
      this.#ready.clear(); this.#validating.clear()
      for (const t of this.machine.tasks()) {
        if (t.state === 'submitted') this.#ready.add(t.id)
        else if (t.state === 'validating' && t.lease === undefined) this.#validating.add(t.id)
      }
      this.#wakeAll()
    }
  }

  /** Start the leader's duties once the group is joined. */
  start (group: QueueGroup): void {
    this.group = group
    this.#unLeader = group.onLeader((leader, term) => { if (leader === this.#self) this.#becameLeader(term) })
    if (group.isLeader()) this.#becameLeader(group.term())
    this.#ticker = this.#clock.setInterval(() => { this.#tick() }, this.#tickMs)
    if (this.#publish !== undefined) this.#publisher = this.#clock.setInterval(() => { this.#publishTransitions() }, PUBLISH_INTERVAL_MS)
  }

  /** The read model (`tasks/<queue>`): the leader publishes the transitions it applied, batched per interval. */
  #publishTransitions (): void {
    if (this.#publishing || this.#transitions.length === 0 || this.#publish === undefined) return
    const data = this.#transitions
    this.#transitions = []
    this.#publishing = true
    this.#publish(`tasks/${this.name}`, { type: 'transitions', data }).then(() => { this.counters.published += data.length }, (err: unknown) => {
      this.counters.publishDropped += data.length
      this.#log('queue %s: %d transitions not published: %s', this.name, data.length, describeError(err))
    }).finally(() => { this.#publishing = false })
  }

  async stop (): Promise<void> {
    this.#stopped = true
    this.#ticker?.cancel()
    this.#publisher?.cancel()
    this.#unLeader?.()
    for (const t of this.#bidTimers.values()) t.cancel()
    this.#bidTimers.clear()
    const error = new NotRunningError(`Queue "${this.name}" stopped on this node`)
    for (const p of this.#pending.splice(0)) p.reject(error)
    this.#endWaiters.clear()
    this.#wakeAll()
    await this.group?.leave()
  }

  // ---- requests -------------------------------------------------------------------------

  /** Run a request from `peer` (identity from the connection, or this node): its result, or the typed refusal thrown. */
  async request (peer: string, request: TaskRequest, signal?: AbortSignal): Promise<TaskSuccess> {
    const result = await this.propose(commandFromRequest(request, { peer }), signal)
    if (!result.ok) throw errorFromRefusal(result)
    return result
  }

  /** Queue one command for the next batch proposal. */
  async propose (command: SingleCommand, signal?: AbortSignal): Promise<TaskResult> {
    if (this.#stopped) throw new NotRunningError(`Queue "${this.name}" stopped on this node`)
    validateTaskCommand(command) // malformed or oversized: refused here, never proposed
    if (this.#pending.length >= PENDING_COMMANDS_MAX) { this.counters.refused++; throw new AbortedError(`Queue "${this.name}" has ${PENDING_COMMANDS_MAX} commands waiting on this member (PENDING_COMMANDS_MAX); retry later`) }
    const bytes = cborBytesBound(command) // a bound, not an encoding: a batch stays within BATCH_BYTES_MAX
    return new Promise<TaskResult>((resolve, reject) => {
      const entry: Pending = { command, bytes, resolve, reject }
      if (command.op === 'leader-changed') this.#pending.unshift(entry)
      else this.#pending.push(entry)
      if (signal !== undefined) {
        const onAbort = (): void => {
          const i = this.#pending.indexOf(entry)
          if (i >= 0) { this.#pending.splice(i, 1); reject(new AbortedError(`Request to queue "${this.name}" was aborted`)) }
        }
        signal.addEventListener('abort', onAbort, { once: true })
      }
      this.#flush()
    })
  }

  #flush (): void {
    while (this.#inFlight < PROPOSALS_IN_FLIGHT_MAX && this.#pending.length > 0 && !this.#stopped) {
      const batch: Pending[] = []
      let bytes = 0
      while (this.#pending.length > 0 && batch.length < BATCH_COMMANDS_MAX) {
        const next = this.#pending[0]!
        if (batch.length > 0 && bytes + next.bytes > BATCH_BYTES_MAX) break
        batch.push(this.#pending.shift()!)
        bytes += next.bytes
      }
      this.#inFlight++
      this.counters.proposals++
      this.counters.commands += batch.length
      for (const p of batch) if (p.command.op === 'tick') this.#tickPending = false
      const command: TaskCommand = batch.length === 1 ? batch[0]!.command : { op: 'batch', commands: batch.map((p) => p.command) }
      this.group.propose(command).then((value) => {
        const r = value as TaskResult
        if (batch.length === 1) batch[0]!.resolve(r)
        else if (r.ok && r.op === 'batch') batch.forEach((p, i) => { p.resolve(r.results[i]!) })
        else for (const p of batch) p.resolve(r)
      }, (err: unknown) => {
        for (const p of batch) p.reject(err as Error)
      }).finally(() => {
        this.#inFlight--
        this.#flush()
      })
    }
  }

  /**
   * A claim from `peer`, long-polled up to `waitMs`: pull queues propose once a task is ready;
   * push and bid queues also return leases the machine gave this worker while it waited.
   */
  async claim (peer: string, request: Extract<TaskRequest, { op: 'claim' }>, waitMs: number, signal?: AbortSignal): Promise<ClaimedWire[]> {
    const deadline = this.#clock.nowMs() + waitMs
    const kind: LeaseKind = request.kind ?? 'work'
    this.#noteClaimant(peer)
    try {
      let proposedAt = -1
      for (;;) {
        if (signal?.aborted === true || this.#stopped) return []
        const pushed = this.#takeUndelivered(peer, kind)
        if (pushed.length > 0) {
          const out = this.#expand(pushed, peer)
          if (out.length > 0) return out
        }
        const candidates = kind === 'validate' ? this.#validating : this.#ready
        const pulls = kind === 'validate' || this.machine.policy.dispatch === 'pull'
        // propose when something new became claimable since the last empty claim, never in a loop
        if (proposedAt < 0 || (pulls && candidates.size > 0 && this.#readyVersion !== proposedAt)) {
          proposedAt = this.#readyVersion
          const r = await this.request(peer, request, signal) as Extract<TaskSuccess, { op: 'claim' }>
          const seen = new Set(r.leases.map((l) => `${l.taskId}#${l.token}`))
          const leases = [...r.leases, ...this.#takeUndelivered(peer, kind).filter((l) => !seen.has(`${l.taskId}#${l.token}`))]
          const out = this.#expand(leases, peer)
          if (out.length > 0) return out
          continue
        }
        const left = deadline - this.#clock.nowMs()
        if (left <= 0) return []
        await this.#park(left, signal)
        this.#log('claim by %s (%s) woke: %d ready, %d validating, version %d (proposed at %d)', peer.slice(-6), kind, this.#ready.size, this.#validating.size, this.#readyVersion, proposedAt)
      }
    } finally {
      this.#claimants.set(peer, this.#clock.nowMs())
    }
  }

  /**
   * Leases the machine pushed (round-robin, least-connections, bid awards) to workers that claim
   * through this member, not yet handed to them: a push may land while the worker is busy and has
   * no claim parked, and its next claim picks it up (renew lists it too, SPEC "Dispatch").
   */
  readonly #undelivered = new Map<string, Map<string, LeaseGrant>>()
  /** Workers that claimed through this member, with when they last did (WORKERS_MAX, oldest forgotten). */
  readonly #claimants = new Map<string, number>()

  #noteClaimant (peer: string): void {
    this.#claimants.delete(peer)
    this.#claimants.set(peer, this.#clock.nowMs())
    while (this.#claimants.size > WORKERS_MAX) {
      const oldest = this.#claimants.keys().next().value!
      this.#claimants.delete(oldest)
      this.#undelivered.delete(oldest)
    }
  }

  /** Forget pushed leases that ended or moved (a member the worker does not claim through keeps them until full). */
  #dropStale (worker: string, m: Map<string, LeaseGrant>): void {
    for (const [id, l] of m) {
      const lease = this.machine.get(id)?.lease
      if (lease === undefined || lease.token !== l.token || lease.worker !== worker) m.delete(id)
    }
  }

  #takeUndelivered (peer: string, kind: LeaseKind): LeaseGrant[] {
    const m = this.#undelivered.get(peer)
    if (m === undefined || kind !== 'work') return []
    this.#undelivered.delete(peer)
    return [...m.values()]
  }

  #expand (leases: LeaseGrant[], peer: string): ClaimedWire[] {
    const out: ClaimedWire[] = []
    for (const l of leases) {
      const t = this.machine.get(l.taskId)
      if (t?.lease === undefined || t.lease.token !== l.token || t.lease.worker !== peer) continue // lost meanwhile
      const c: ClaimedWire = { lease: { ...l, expiresAtMs: t.lease.expiresAtMs }, input: t.input, leaseMs: l.kind === 'validate' ? this.machine.policy.validationLeaseMs : this.machine.policy.leaseMs }
      if (t.feedback !== undefined) c.feedback = t.feedback
      if (l.kind === 'validate' && t.result !== undefined) c.output = t.result
      out.push(c)
    }
    return out
  }

  /**
   * Push `taskId`'s end to `peer` when it ends (its submit asked for it): one `end` frame per
   * submitter per applied entry carries every task of theirs that ended in it.
   */
  notifyEnd (taskId: string, peer: string): void {
    if (this.#stopped || this.#pushEnds === undefined) return
    const t = this.machine.get(taskId)
    if (t === undefined) return // purged: it ended long ago; the submitter asks for it after PUSH_WAIT_MS
    if (TERMINAL_STATES.has(t.state)) { this.#sendEnds(peer, [endOf(t)]); return }
    this.#endWaiters.delete(taskId)
    this.#endWaiters.set(taskId, peer)
    while (this.#endWaiters.size > END_WAITERS_MAX) {
      this.#endWaiters.delete(this.#endWaiters.keys().next().value!)
      this.counters.endWaitersDropped++
    }
  }

  #sendEnds (peer: string, ends: TaskEnd[]): void {
    for (let i = 0; i < ends.length; i += ENDS_PER_FRAME_MAX) this.#pushEnds!(peer, ends.slice(i, i + ENDS_PER_FRAME_MAX))
    this.counters.endsPushed += ends.length
  }

  /** Linearizable read of a task. */
  async get (taskId: string, options: { signal?: AbortSignal, timeoutMs?: number } = {}): Promise<TaskView | undefined> {
    return this.group.read(() => this.machine.get(taskId), options)
  }

  /** The task once its signature differs from `sig` (with `end`: once it ended), or as it is after `waitMs`. */
  async wait (taskId: string, sig: string, waitMs: number, signal?: AbortSignal, end = false): Promise<TaskView | undefined> {
    const deadline = this.#clock.nowMs() + waitMs
    // an applied state is committed, and a stale one only means waiting longer: the local replica
    // answers, and a linearizable read is needed only for a task this replica has not applied yet
    let t = this.machine.get(taskId) ?? await this.get(taskId, { signal })
    for (;;) {
      if ((!end && taskSignature(t) !== sig) || t === undefined || TERMINAL_STATES.has(t.state)) return t
      const left = deadline - this.#clock.nowMs()
      if (left <= 0 || this.#stopped || signal?.aborted === true) return t
      await this.#park(left, signal, taskId)
      t = this.machine.get(taskId)
    }
  }

  deadLetters (limit: number): TaskView[] { return this.machine.deadLetters({ limit }) }

  /** Long-polls parked now (claims and waits), and tasks with a waiter: for stats and tests. */
  parked (): { claims: number, waits: number, tasks: number } { return { claims: this.#parked.size, waits: this.#taskWaitersCount, tasks: this.#taskWaiters.size } }

  readonly #taskWaiters = new Map<string, Set<Parked>>()
  #taskWaitersCount = 0

  async #park (ms: number, signal?: AbortSignal, taskId?: string): Promise<void> {
    if (this.#parked.size + this.#taskWaitersCount >= PARKED_MAX) { await new Promise((resolve) => { this.#clock.setTimeout(() => { resolve(undefined) }, Math.min(ms, this.#tickMs)) }); return }
    await new Promise<void>((resolve) => {
      const timer = this.#clock.setTimeout(() => { p.wake() }, ms)
      const onAbort = (): void => { p.wake() }
      const p: Parked = {
        wake: () => {
          timer.cancel()
          signal?.removeEventListener('abort', onAbort)
          if (taskId !== undefined) {
            this.#taskWaitersCount--
            const set = this.#taskWaiters.get(taskId)
            set?.delete(p)
            if (set?.size === 0) this.#taskWaiters.delete(taskId)
          } else this.#parked.delete(p)
          resolve()
        }
      }
      if (taskId !== undefined) {
        let set = this.#taskWaiters.get(taskId)
        if (set === undefined) { set = new Set(); this.#taskWaiters.set(taskId, set) }
        set.add(p)
        this.#taskWaitersCount++
      } else this.#parked.add(p)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  #wakeAll (): void {
    for (const p of [...this.#parked]) p.wake()
    for (const set of [...this.#taskWaiters.values()]) for (const p of [...set]) p.wake()
  }

  #onUpdates (updates: TaskUpdate[]): void {
    let wakeClaims = false
    let pushedAny = false
    let ended: Map<string, TaskEnd[]> | undefined
    const publishing = this.#publish !== undefined && this.group !== undefined && this.group.isLeader()
    for (const u of updates) {
      if (u.kind === 'state') {
        if (publishing) {
          if (this.#transitions.length >= TRANSITIONS_PER_EVENT_MAX) { this.#transitions.shift(); this.counters.publishDropped++ }
          this.#transitions.push({ taskId: u.taskId, state: u.state, attempt: u.attempt, atMs: u.atMs })
        }
        if ((u.state === 'retrying' || u.state === 'failed') && this.machine.get(u.taskId)?.error?.type === 'lease-expired') this.counters.leaseExpiries++
        if (u.state === 'submitted') { this.#ready.add(u.taskId); wakeClaims = true } else this.#ready.delete(u.taskId)
        if (u.state === 'validating') { this.#validating.add(u.taskId); wakeClaims = true } else this.#validating.delete(u.taskId)
        if (u.state === 'submitted' && this.machine.policy.dispatch === 'bid') this.#callForBids(u.taskId)
        if (u.state === 'failed' && publishing) this.#forwardIfNeeded(u.taskId)
        if (TERMINAL_STATES.has(u.state) && this.#endWaiters.size > 0) {
          const peer = this.#endWaiters.get(u.taskId)
          const t = peer === undefined ? undefined : this.machine.get(u.taskId)
          if (peer !== undefined && t !== undefined) {
            this.#endWaiters.delete(u.taskId)
            ended ??= new Map()
            let list = ended.get(peer)
            if (list === undefined) { list = []; ended.set(peer, list) }
            list.push(endOf(t))
          }
        }
      } else if (u.kind === 'lease') {
        if (u.leaseKind === 'validate') this.#validating.delete(u.taskId)
        else this.#ready.delete(u.taskId)
        // kept on every member, not only the one the worker claimed through last: a worker moves
        // (to the leader an answer named, or away from a dead member) and claims where it is now
        if (u.leaseKind === 'work' && this.machine.policy.dispatch !== 'pull') {
          let m = this.#undelivered.get(u.worker)
          if (m === undefined) {
            if (this.#undelivered.size >= WORKERS_MAX) this.#undelivered.delete(this.#undelivered.keys().next().value!)
            m = new Map()
            this.#undelivered.set(u.worker, m)
          }
          if (m.size >= HELD_LEASES_MAX) this.#dropStale(u.worker, m)
          if (m.size < HELD_LEASES_MAX) m.set(u.taskId, { taskId: u.taskId, attempt: u.attempt, token: u.token, expiresAtMs: 0, kind: 'work' })
          pushedAny = true
        }
      } else {
        this.#ready.delete(u.taskId); this.#validating.delete(u.taskId)
        this.#endWaiters.delete(u.taskId)
      }
      const waiters = this.#taskWaiters.get(u.taskId)
      if (waiters !== undefined) { this.#taskWaiters.delete(u.taskId); for (const p of waiters) p.wake() }
    }
    if (wakeClaims) this.#readyVersion++
    if (wakeClaims || pushedAny) for (const p of [...this.#parked]) p.wake()
    if (ended !== undefined) for (const [peer, ends] of ended) this.#sendEnds(peer, ends)
  }

  // ---- the leader's driver ----------------------------------------------------------------

  #becameLeader (term: number): void {
    if (this.#stopped || term === this.#epoch) return
    this.#epoch = term
    this.#leaderSinceMs = this.#clock.nowMs()
    this.#driverPropose({ op: 'leader-changed', epoch: term })
    // tasks waiting for bids under the old leader get a new call
    if (this.machine.policy.dispatch === 'bid') for (const id of this.#ready) this.#callForBids(id)
  }

  #tick (): void {
    if (this.#stopped || !this.group.isLeader() || this.group.term() !== this.#epoch || this.#tickPending) return
    this.#tickPending = true
    this.#driverPropose({ op: 'tick', epoch: this.#epoch, elapsedMs: Math.max(0, Math.round(this.#clock.nowMs() - this.#leaderSinceMs)) })
  }

  /** Health declared `worker` dead: its leases end now rather than at expiry. */
  workerDead (worker: string): void {
    if (this.#stopped || !this.group.isLeader()) return
    if (!this.machine.workers().some((w) => w.id === worker)) return
    this.#driverPropose({ op: 'worker-dead', worker })
  }

  #driverPropose (command: SingleCommand): void {
    this.propose(command).then((r) => {
      if (!r.ok && command.op !== 'award') this.#log('queue %s: %s refused: %s', this.name, command.op, r.message)
    }, (err: unknown) => {
      if (command.op === 'tick') this.#tickPending = false
      if (!this.#stopped) this.#log('queue %s: %s not committed: %s', this.name, command.op, describeError(err))
    })
  }

  /** A task failed over to the fallback queue is resubmitted there once (idempotency key `<queue>/<id>`). */
  #forwardIfNeeded (taskId: string): void {
    const t = this.machine.get(taskId)
    if (t?.forwardedTo === undefined || this.#forward === undefined) return
    const key = `${this.name}/${taskId}`.slice(0, 128)
    this.#forward(t.forwardedTo, t, key).catch((err: unknown) => { this.#log.error('queue %s: task %s not forwarded to %s: %s', this.name, taskId, t.forwardedTo, describeError(err)) })
  }

  #callForBids (taskId: string): void {
    if (this.#stopped || this.group === undefined || !this.group.isLeader() || this.#bidTimers.has(taskId)) return
    const t = this.machine.get(taskId)
    if (t === undefined || t.state !== 'submitted') return
    const attempt = t.attempt + 1
    for (const w of this.machine.workers()) {
      if (t.capability !== undefined && !w.capabilities.includes(t.capability)) continue
      this.#sendCfb(w.id, { queue: this.name, taskId, attempt, input: t.input })
    }
    this.#bidTimers.set(taskId, this.#clock.setTimeout(() => {
      this.#bidTimers.delete(taskId)
      if (this.#stopped || !this.group.isLeader()) return
      const now = this.machine.get(taskId)
      if (now?.state === 'submitted' && now.attempt + 1 === attempt) this.#driverPropose({ op: 'award', taskId, attempt })
    }, this.#bidWindowMs))
  }
}
