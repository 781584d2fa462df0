// The replicated data of one queue (tasks, leases, workers, indexes) and the transitions every
// command is built from. Pure: no clock but `clockMs`, which only commands move.

import { assert } from '../kit/assert.ts'
import { breakerCallStarted, closedBreaker } from './breaker.ts'
import type { Breaker } from './breaker.ts'
import type { LeaseKind, RetryPolicy, TaskError } from './messages.ts'
import { effectiveRetry } from './policy.ts'
import type { QueuePolicy } from './policy.ts'

/** Task states (DESIGN "Tasks"); `retrying` is never terminal. */
/** Every task state, in lifecycle order (metrics list each one, zero included). */
export const TASK_STATES = ['submitted', 'working', 'validating', 'retrying', 'completed', 'failed', 'canceled', 'rejected', 'input-required'] as const
export type TaskState = typeof TASK_STATES[number]
/** States a task never leaves (except `failed`, by redrive). */
export const TERMINAL_STATES: ReadonlySet<TaskState> = new Set<TaskState>(['completed', 'failed', 'canceled', 'rejected'])

/** Tasks a queue holds, live and retained: bounds memory and the snapshot (which must fit one Raft snapshot). */
export const QUEUE_TASKS_MAX = 4096
/**
 * Bytes charged for the tasks a queue holds (`chargeOf`: inputs, outputs, notes, names, bids, and a
 * fixed record size): with the other tables at their limits, the snapshot stays under 7 MiB.
 */
export const QUEUE_BYTES_MAX = 5 * 1024 * 1024
/** Charged per task on top of its variable fields: fixed fields, the lease, a bounded history, a machine-made error. */
export const TASK_RECORD_BYTES = 768
/** Workers remembered: the registry is in the snapshot (≤ 256 × 16 capabilities × 128 chars = 512 KiB); idle workers without leases are forgotten first. */
export const WORKERS_MAX = 256
/** Idempotency keys remembered: beyond this the oldest key is forgotten before its window ends. */
export const IDEMPOTENCY_KEYS_MAX = 4096
/** Transitions kept per task: the oldest are dropped (and counted) beyond this. */
export const HISTORY_MAX = 16
/** Bids kept per task (FIPA contract-net call): more bidders than this add nothing to the choice. */
export const BIDS_MAX = 64
/** Updates waiting for `drainUpdates()`: beyond this the oldest are dropped and counted (readers re-read with get). */
export const UPDATES_PENDING_MAX = 4096
/** Timers (lease expiries, retries, timeouts, purges) one timer pass carries out (two passes per command): a big clock step is spread over several commands. */
export const EXPIRIES_PER_APPLY_MAX = 256
/** Tasks one apply may push to workers (round-robin, least-connections). */
export const DISPATCH_PER_APPLY_MAX = 256

/** A lease: who holds the task, with which fencing token, until when (replicated clock). */
export interface Lease { worker: string, token: number, expiresAtMs: number, kind: LeaseKind }
/** A worker's answer to a call for bids. */
export interface Bid { worker: string, cost: number, etaMs: number }
/** One entry of a task's history. */
export interface Transition { state: TaskState, atMs: number }

/** One task and everything the queue knows about it. */
export interface Task {
  id: string
  /** Submit order: FIFO among equal priorities. */
  seq: number
  state: TaskState
  /** Attempts started so far (the current one while working); the worker's idempotency key with the token. */
  attempt: number
  submitter: string
  input: Uint8Array
  capability?: string
  priority: number
  idempotencyKey?: string
  retryOverride?: Partial<RetryPolicy>
  /** Schedule-to-close, schedule-to-start, start-to-close; 0 = none. */
  timeoutMs: number
  scheduleToStartMs: number
  startToCloseMs: number
  submittedAtMs: number
  /** When the task last became claimable (schedule-to-start counts from here). */
  readyAtMs: number
  /** `retrying` until this time. */
  notBeforeMs: number
  /** When the current attempt's lease was granted. */
  startedAtMs: number
  lease?: Lease
  /** Holder of the latest work lease. */
  worker?: string
  output?: Uint8Array
  error?: TaskError
  feedback?: string
  question?: string
  bids: Bid[]
  history: Transition[]
  historyDropped: number
  /** When the task became terminal. */
  endedAtMs?: number
  /** Bytes charged against QUEUE_BYTES_MAX (`chargeOf` when last settled). */
  charge: number
  /** The fallback queue the task was handed to (every breaker open). */
  forwardedTo?: string
}

/** A worker the queue has heard from. */
export interface Worker {
  id: string
  capabilities: string[]
  concurrency: number
  lastSeenMs: number
  breaker: Breaker
  /** Task ids it holds leases on (derived from the tasks; not in the snapshot). */
  leases: Set<string>
}

/** A change a reader (watch, the adapter, the simulator) learns from `drainUpdates()`. */
export type TaskUpdate =
  | { kind: 'state', taskId: string, state: TaskState, attempt: number, atMs: number, index: number }
  | { kind: 'lease', taskId: string, worker: string, token: number, attempt: number, leaseKind: LeaseKind, index: number }
  | { kind: 'purged', taskId: string, index: number }

/**
 * Deliberate bugs for the simulator's self-tests (`npm run sim -- check tasks --inject …`): each
 * breaks one invariant so the checker can be seen to catch it. Never set outside a self-test.
 */
export type TaskFault = 'accept-stale-token' | 'drop-on-expiry' | 'reuse-token' | 'ignore-idempotency' | 'complete-twice'

/** All replicated data of a queue. */
export class QueueState {
  readonly policy: QueuePolicy
  readonly tasks = new Map<string, Task>()
  /** Claimable task ids (`submitted`, unleased), by priority then submit order. */
  ready: string[] = []
  readonly workers = new Map<string, Worker>()
  /** idempotencyKey → {task id, when}, oldest first. */
  readonly idempotency = new Map<string, { taskId: string, atMs: number }>()
  /** Failed task ids, oldest failure first. */
  readonly deadLetters = new Map<string, number>()
  /** Completed, canceled and rejected task ids, oldest first (retention). */
  readonly ended = new Map<string, number>()
  clockMs = 0
  /** Clock epoch (leader term) and the clock value when it began: a tick sets clock = base + elapsed. */
  epoch = 0
  epochBaseMs = 0
  /** Highest epoch whose leader-changed extension ran (extends leases once per epoch). */
  extendedEpoch = 0
  /** Last fencing token handed out; only grows. */
  token = 0
  seq = 0
  /** Round-robin cursor: the last worker id served. */
  cursor = ''
  appliedIndex = 0
  /** Σ charge of the tasks held (QUEUE_BYTES_MAX). */
  storedBytes = 0
  /** Earliest time a timer may be due; a scan runs only once the clock reaches it. */
  nextDueMs = 0
  updatesDropped = 0
  readonly updates: TaskUpdate[] = []
  /** Index of the command being applied (stamps updates). */
  index = 0

  readonly faults: ReadonlySet<TaskFault>

  constructor (policy: QueuePolicy, faults: ReadonlySet<TaskFault> = new Set()) {
    this.policy = policy
    this.faults = faults
  }

  /** The retry policy of a task. */
  retryOf (task: Task): RetryPolicy { return effectiveRetry(this.policy.retry, task.retryOverride) }

  /** Record a transition: state, history (bounded), update. */
  transition (task: Task, state: TaskState): void {
    task.state = state
    this.settle(task) // every change of a charged field comes right before a transition (or a bid)
    task.history.push({ state, atMs: this.clockMs })
    if (task.history.length > HISTORY_MAX) { task.history.shift(); task.historyDropped++ }
    this.emit({ kind: 'state', taskId: task.id, state, attempt: task.attempt, atMs: this.clockMs, index: this.index })
    if (TERMINAL_STATES.has(state)) {
      task.endedAtMs = this.clockMs
      // retention and the dead-letter bound are enforced by a timer pass, due when they bite
      if (state === 'failed') {
        this.deadLetters.set(task.id, this.clockMs)
        this.due(this.deadLetters.size > this.policy.deadLetter.maxTasks ? this.clockMs : this.clockMs + this.policy.deadLetter.retentionMs)
      } else {
        this.ended.set(task.id, this.clockMs)
        this.due(this.clockMs + this.policy.retentionMs)
      }
    }
  }

  emit (update: TaskUpdate): void {
    this.updates.push(update)
    if (this.updates.length > UPDATES_PENDING_MAX) { this.updates.shift(); this.updatesDropped++ }
  }

  /** Note that a timer may be due at `atMs`. */
  due (atMs: number): void { if (atMs < this.nextDueMs) this.nextDueMs = atMs }

  /** Make a task claimable now. */
  makeReady (task: Task): void {
    assert(task.lease === undefined, `task ${task.id} made ready while leased`)
    task.bids = []
    this.transition(task, 'submitted')
    task.readyAtMs = this.clockMs
    this.insertReady(task)
    if (task.scheduleToStartMs > 0) this.due(this.clockMs + task.scheduleToStartMs)
  }

  insertReady (task: Task): void {
    const before = (a: Task, b: Task): boolean => a.priority > b.priority || (a.priority === b.priority && a.seq < b.seq)
    let lo = 0
    let hi = this.ready.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (before(this.tasks.get(this.ready[mid]!)!, task)) lo = mid + 1
      else hi = mid
    }
    this.ready.splice(lo, 0, task.id)
  }

  removeReady (taskId: string): void {
    const i = this.ready.indexOf(taskId)
    if (i >= 0) this.ready.splice(i, 1)
  }

  /** Grant a lease with a fresh token (SPEC tasks T1). */
  grantLease (task: Task, worker: Worker, kind: LeaseKind): Lease {
    assert(task.lease === undefined, `task ${task.id} leased twice`)
    const lease: Lease = { worker: worker.id, token: this.faults.has('reuse-token') ? task.attempt + 1 : ++this.token, expiresAtMs: this.clockMs + (kind === 'work' ? this.policy.leaseMs : this.policy.validationLeaseMs), kind }
    task.lease = lease
    worker.leases.add(task.id)
    this.due(lease.expiresAtMs)
    if (kind === 'work') {
      this.removeReady(task.id)
      task.attempt++
      task.worker = worker.id
      task.startedAtMs = this.clockMs
      breakerCallStarted(worker.breaker)
      if (task.startToCloseMs > 0) this.due(this.clockMs + task.startToCloseMs)
      this.transition(task, 'working')
    }
    this.emit({ kind: 'lease', taskId: task.id, worker: worker.id, token: lease.token, attempt: task.attempt, leaseKind: kind, index: this.index })
    return lease
  }

  /** Drop a task's lease (result, expiry, cancel). */
  endLease (task: Task): void {
    const lease = task.lease
    if (lease === undefined) return
    this.workers.get(lease.worker)?.leases.delete(task.id)
    delete task.lease
  }

  /** Register (or refresh) a worker; undefined when the registry is full of busy workers. */
  touchWorker (id: string, announce?: { capabilities?: string[], concurrency?: number }): Worker | undefined {
    let worker = this.workers.get(id)
    if (worker === undefined) {
      if (this.workers.size >= WORKERS_MAX && !this.forgetIdleWorker()) return undefined
      worker = { id, capabilities: [], concurrency: 1, lastSeenMs: this.clockMs, breaker: closedBreaker(), leases: new Set() }
      this.workers.set(id, worker)
    }
    worker.lastSeenMs = this.clockMs
    if (announce?.capabilities !== undefined) worker.capabilities = [...new Set(announce.capabilities)].sort()
    if (announce?.concurrency !== undefined) worker.concurrency = announce.concurrency
    return worker
  }

  /** Forget the least recently seen worker without leases; false when every worker holds one. */
  forgetIdleWorker (): boolean {
    let idle: Worker | undefined
    for (const w of this.workers.values()) if (w.leases.size === 0 && (idle === undefined || w.lastSeenMs < idle.lastSeenMs)) idle = w
    if (idle === undefined) return false
    this.workers.delete(idle.id)
    return true
  }

  /** Remove a task for good (retention or dead-letter bound). */
  purge (task: Task): void {
    assert(TERMINAL_STATES.has(task.state), `purging live task ${task.id} (${task.state})`)
    this.tasks.delete(task.id)
    this.deadLetters.delete(task.id)
    this.ended.delete(task.id)
    this.storedBytes -= task.charge
    this.emit({ kind: 'purged', taskId: task.id, index: this.index })
  }

  /** A worker's leased tasks in submit order: the Set's own order differs after a restore, this one does not. */
  leasedTasks (worker: Worker): Task[] {
    return [...worker.leases].map((id) => this.tasks.get(id)!).sort((a, b) => a.seq - b.seq)
  }

  /** Charge a task's current size against QUEUE_BYTES_MAX. */
  settle (task: Task): void {
    const charge = chargeOf(task)
    this.storedBytes += charge - task.charge
    task.charge = charge
  }

  /** Room for `bytes` more (and a new task if `newTask`), purging the oldest ended tasks first; never live ones. */
  makeRoom (bytes: number, newTask: boolean): boolean {
    while ((newTask && this.tasks.size >= QUEUE_TASKS_MAX) || this.storedBytes + bytes > QUEUE_BYTES_MAX) {
      const oldest = this.ended.keys().next()
      if (oldest.done === true) return false
      this.purge(this.tasks.get(oldest.value)!)
    }
    return true
  }

  /** Whether a worker can run tasks of this capability. */
  serves (worker: Worker, task: Task): boolean {
    return task.capability === undefined || worker.capabilities.includes(task.capability)
  }
}

/** Upper bound of a task's bytes in the snapshot (strings counted as 3 bytes a character: UTF-8 of the BMP). */
export function chargeOf (t: Task): number {
  let chars = t.submitter.length + (t.capability?.length ?? 0) + (t.idempotencyKey?.length ?? 0) + (t.worker?.length ?? 0) +
    (t.feedback?.length ?? 0) + (t.question?.length ?? 0) + (t.forwardedTo?.length ?? 0) + t.id.length
  if (t.error !== undefined) chars += t.error.type.length + t.error.message.length
  for (const e of t.retryOverride?.nonRetryableErrors ?? []) chars += e.length + 2
  let bytes = TASK_RECORD_BYTES + t.input.byteLength + (t.output?.byteLength ?? 0)
  for (const b of t.bids) bytes += 3 * b.worker.length + 40
  return bytes + 3 * chars
}
