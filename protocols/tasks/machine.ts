// The task queue as a pure, deterministic replicated state machine: the `apply` of the Raft group
// that hosts a queue (`groups.join(name, { members, apply, snapshot })`). SPEC tasks.

import { unreachable } from '../kit/assert.ts'
import { answer, cancel, leaderChanged, redrive, renew, submit, tick, workerDead } from './commands.ts'
import { award, bid, claim, pushReady } from './dispatch.ts'
import { validateTaskCommand } from './messages.ts'
import type { SingleCommand, TaskCommand } from './messages.ts'
import { ask, complete, fail, verdict } from './outcomes.ts'
import { queuePolicy } from './policy.ts'
import type { QueueOptions, QueuePolicy } from './policy.ts'
import { refuse } from './results.ts'
import type { TaskResult } from './results.ts'
import { decodeQueueState, encodeQueueState } from './snapshot.ts'
import { QueueState } from './state.ts'
import type { Task, TaskFault, TaskState, TaskUpdate, Worker } from './state.ts'
import { runTimers } from './timers.ts'
import { checkQueueInvariants } from './invariants.ts'

/** Options of a machine: the queue's policy options, and (simulator self-tests only) deliberate bugs. */
export interface TaskMachineOptions extends QueueOptions { faults?: TaskFault[] }

/** A task as readers see it (DESIGN `queue.get`). */
export interface TaskView {
  id: string
  state: TaskState
  attempt: number
  priority: number
  capability?: string
  /** Holder of the latest work lease. */
  worker?: string
  /** The current lease, if any: its holder, fencing token, expiry and kind. */
  lease?: { worker: string, token: number, expiresAtMs: number, kind: 'work' | 'validate' }
  bids: Array<{ worker: string, cost: number, etaMs: number }>
  input: Uint8Array
  result?: Uint8Array
  error?: { type: string, message: string }
  feedback?: string
  question?: string
  forwardedTo?: string
  history: Array<{ state: TaskState, atMs: number }>
}

/** One queue's state machine. Every replica that applies the same commands holds the same state. */
export class TaskMachine {
  #state: QueueState
  readonly #faults: ReadonlySet<TaskFault>

  constructor (options: TaskMachineOptions = {}) {
    const { faults, ...queue } = options
    this.#faults = new Set(faults ?? [])
    this.#state = new QueueState(queuePolicy(queue), this.#faults)
  }

  /**
   * Apply one committed command (ApplyFunction). Deterministic: the result depends only on the
   * commands applied before. A malformed command throws DecodeError/LimitExceededError and changes
   * nothing; a refused one returns `{ok: false, code}`.
   */
  apply (command: unknown, context: { index: number }): TaskResult {
    const c: TaskCommand = validateTaskCommand(command)
    const s = this.#state
    if (context.index <= s.appliedIndex) return refuse('already-applied', `Command at index ${context.index} was already applied (applied ${s.appliedIndex})`)
    s.appliedIndex = context.index
    s.index = context.index
    if (c.op === 'batch') {
      const results = c.commands.map((one, i) => this.#applyOne(one, `${context.index}.${i}`))
      return { ok: true, op: 'batch', results }
    }
    return this.#applyOne(c, String(context.index))
  }

  #applyOne (c: SingleCommand, taskId: string): TaskResult {
    const s = this.#state
    runTimers(s) // a tick's clock is applied by the tick itself; timers then run after it (below)
    const result = this.#execute(c, taskId)
    runTimers(s)
    pushReady(s)
    if (s.policy.fallbackQueue !== undefined && s.ready.length > 0) s.due(s.clockMs) // a breaker may have opened
    return result
  }

  #execute (c: SingleCommand, taskId: string): TaskResult {
    const s = this.#state
    switch (c.op) {
      case 'submit': return submit(s, c, taskId)
      case 'claim': return claim(s, c)
      case 'renew': return renew(s, c)
      case 'complete': return complete(s, c)
      case 'fail': return fail(s, c)
      case 'verdict': return verdict(s, c)
      case 'ask': return ask(s, c)
      case 'answer': return answer(s, c)
      case 'cancel': return cancel(s, c)
      case 'redrive': return redrive(s, c)
      case 'bid': return bid(s, c)
      case 'award': return award(s, c)
      case 'worker-dead': return workerDead(s, c)
      case 'leader-changed': return leaderChanged(s, c)
      case 'tick': return tick(s, c)
      default: return unreachable(c, 'task command')
    }
  }

  /** Snapshot hook: the whole state as bytes. */
  snapshot (): Uint8Array { return encodeQueueState(this.#state) }

  /** Snapshot hook: replace the state with a snapshot's. */
  restore (data: Uint8Array): void { this.#state = decodeQueueState(data, this.#faults) }

  /** The hooks `groups.join` takes. */
  hooks (): { snapshot: () => Uint8Array, restore: (data: Uint8Array) => void } {
    return { snapshot: () => this.snapshot(), restore: (data) => { this.restore(data) } }
  }

  /** Updates (state changes, leases, purges) since the last drain, in apply order. */
  drainUpdates (): TaskUpdate[] {
    const updates = this.#state.updates.splice(0)
    return updates
  }

  /** The replicated clock. */
  get clockMs (): number { return this.#state.clockMs }
  /** Last fencing token handed out. */
  get lastToken (): number { return this.#state.token }
  get appliedIndex (): number { return this.#state.appliedIndex }
  get policy (): QueuePolicy { return this.#state.policy }
  /** Updates dropped because nobody drained them (UPDATES_PENDING_MAX). */
  get updatesDropped (): number { return this.#state.updatesDropped }

  /** A task, or undefined (never submitted, or purged). */
  get (taskId: string): TaskView | undefined {
    const t = this.#state.tasks.get(taskId)
    return t === undefined ? undefined : view(t)
  }

  /** Every task held, in submit order. */
  tasks (): TaskView[] { return [...this.#state.tasks.values()].map(view) }

  /** How many tasks this replica holds in each state, and how many are dead letters (metrics, dashboard). */
  counts (): { byState: Partial<Record<TaskState, number>>, deadLetters: number } {
    const byState: Partial<Record<TaskState, number>> = {}
    for (const t of this.#state.tasks.values()) byState[t.state] = (byState[t.state] ?? 0) + 1
    return { byState, deadLetters: this.#state.deadLetters.size }
  }

  /** Failed tasks, oldest failure first (DESIGN `queue.deadLetters`). */
  deadLetters (options: { limit?: number } = {}): TaskView[] {
    const out: TaskView[] = []
    for (const id of this.#state.deadLetters.keys()) {
      if (out.length >= (options.limit ?? Infinity)) break
      out.push(view(this.#state.tasks.get(id)!))
    }
    return out
  }

  /** Workers known to the queue, with their breaker state and load. */
  workers (): Array<{ id: string, capabilities: string[], concurrency: number, inFlight: number, breaker: Worker['breaker']['state'], lastSeenMs: number }> {
    return [...this.#state.workers.values()].map((w) => ({ id: w.id, capabilities: w.capabilities, concurrency: w.concurrency, inFlight: w.leases.size, breaker: w.breaker.state, lastSeenMs: w.lastSeenMs }))
  }

  /** Check the machine's own structural invariants (tests and the simulator); throws AssertionError. */
  checkInvariants (): void { checkQueueInvariants(this.#state) }
}

/** Build a machine and the options to hand to `groups.join(name, { members, apply, snapshot })`. */
export function createTaskMachine (options: TaskMachineOptions = {}): { machine: TaskMachine, apply: (command: unknown, context: { index: number }) => TaskResult, snapshot: { snapshot: () => Uint8Array, restore: (data: Uint8Array) => void } } {
  const machine = new TaskMachine(options)
  return { machine, apply: (command, context) => machine.apply(command, context), snapshot: machine.hooks() }
}

function view (t: Task): TaskView {
  const v: TaskView = { id: t.id, state: t.state, attempt: t.attempt, priority: t.priority, bids: t.bids.map((b) => ({ ...b })), input: t.input, history: t.history.map((h) => ({ ...h })) }
  if (t.capability !== undefined) v.capability = t.capability
  if (t.worker !== undefined) v.worker = t.worker
  if (t.lease !== undefined) v.lease = { ...t.lease }
  if (t.output !== undefined) v.result = t.output
  if (t.error !== undefined) v.error = { ...t.error }
  if (t.feedback !== undefined) v.feedback = t.feedback
  if (t.question !== undefined) v.question = t.question
  if (t.forwardedTo !== undefined) v.forwardedTo = t.forwardedTo
  return v
}
