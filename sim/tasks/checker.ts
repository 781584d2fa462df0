// Invariant checks for a task queue (SPEC tasks T1–T5), run around every applied command: from the
// command, its result, the queue's updates and a read of the replica. Each failure names its invariant.

import { AssertionError } from '../../protocols/kit/assert.ts'
import { retryDelayFloorMs } from '../../protocols/tasks/backoff.ts'
import type { SingleCommand, TaskCommand } from '../../protocols/tasks/messages.ts'
import { effectiveRetry } from '../../protocols/tasks/policy.ts'
import type { TaskMachine } from '../../protocols/tasks/machine.ts'
import type { TaskResult } from '../../protocols/tasks/results.ts'
import type { TaskUpdate } from '../../protocols/tasks/state.ts'

const TERMINAL = new Set(['completed', 'failed', 'canceled', 'rejected'])

/** Watches one replica; `failures` lists what broke, first occurrence of each invariant. */
export class TasksChecker {
  readonly failures: string[] = []
  readonly #failed = new Set<string>()
  /** Highest token any lease was granted (T1). */
  #maxToken = 0
  readonly #completions = new Map<string, number>()
  /** Every task id a submit created, and its last state seen (T3). */
  readonly #known = new Map<string, string>()
  readonly #purged = new Set<string>()
  /** idempotencyKey → {task id, clock at submit} (T4). */
  readonly #keys = new Map<string, { taskId: string, atMs: number }>()
  /** When a task went to retrying, and after which attempt (T5). */
  readonly #retrying = new Map<string, { atMs: number, attempt: number }>()
  readonly #overrides = new Map<string, SingleCommand & { op: 'submit' }>()
  #expected: boolean[] = []
  /** Clock at each task's submit (from its first update: a batch may tick between its commands). */
  readonly #submittedAt = new Map<string, number>()
  completed = 0
  staleRefused = 0

  #fail (invariant: string, detail: string): void {
    if (this.#failed.has(invariant)) return
    this.#failed.add(invariant)
    this.failures.push(`${invariant}: ${detail}`)
  }

  /** Before applying: what a fenced result should get, judged from the replica's current lease (T2). */
  before (command: TaskCommand, machine: TaskMachine): void {
    const singles = command.op === 'batch' ? command.commands : [command]
    this.#expected = singles.map((c) => {
      if (c.op !== 'complete' && c.op !== 'fail' && c.op !== 'ask' && c.op !== 'verdict') return true
      const lease = machine.get(c.taskId)?.lease
      const kind = c.op === 'verdict' ? 'validate' : 'work'
      return lease !== undefined && lease.kind === kind && lease.token === c.token && lease.worker === c.worker && lease.expiresAtMs > machine.clockMs
    })
  }

  /** After applying: results, updates and the replica's structure. */
  after (command: TaskCommand, result: TaskResult, machine: TaskMachine, updates: TaskUpdate[]): void {
    const singles = command.op === 'batch' ? command.commands : [command]
    const results = command.op === 'batch' && result.ok && result.op === 'batch' ? result.results : [result]
    for (const u of updates) {
      if (u.kind === 'state' && u.state === 'submitted' && !this.#submittedAt.has(u.taskId)) this.#submittedAt.set(u.taskId, u.atMs)
    }
    singles.forEach((c, i) => { this.#checkResult(c, results[i]!, this.#expected[i]!, machine) })
    for (const u of updates) this.#checkUpdate(u, machine)
    try {
      machine.checkInvariants()
    } catch (err) {
      if (!(err instanceof AssertionError)) throw err
      this.#fail('T3 structure', err.message)
    }
  }

  #checkResult (c: SingleCommand, r: TaskResult, fenced: boolean, machine: TaskMachine): void {
    if (c.op === 'complete' || c.op === 'fail' || c.op === 'ask' || c.op === 'verdict') {
      if (r.ok && !fenced) this.#fail('T2 fenced results', `${c.op} of ${c.taskId} with token ${c.token} by ${c.worker} was applied without the current unexpired lease`)
      if (!r.ok && r.code === 'stale-lease') this.staleRefused++
      if (!r.ok && fenced && r.code === 'stale-lease') this.#fail('T2 fenced results', `${c.op} of ${c.taskId} with the current lease was refused: ${r.message}`)
    }
    if (c.op !== 'submit' || !r.ok || r.op !== 'submit') return
    if (!r.duplicate) {
      if (this.#known.has(r.taskId)) this.#fail('T3 no loss', `submit created id ${r.taskId} twice`)
      this.#known.set(r.taskId, 'submitted')
      this.#overrides.set(r.taskId, c)
    }
    if (c.idempotencyKey === undefined) return
    const seen = this.#keys.get(c.idempotencyKey)
    const window = machine.policy.dedupWindowMs
    const now = r.duplicate ? machine.clockMs : this.#submittedAt.get(r.taskId) ?? machine.clockMs
    if (seen !== undefined && seen.atMs + window > now) {
      if (!r.duplicate || r.taskId !== seen.taskId) this.#fail('T4 idempotent submit', `key ${c.idempotencyKey} submitted again within its window gave ${r.taskId}${r.duplicate ? '' : ' (new)'} instead of ${seen.taskId}`)
    } else if (!r.duplicate) {
      this.#keys.set(c.idempotencyKey, { taskId: r.taskId, atMs: now })
    }
  }

  #checkUpdate (u: TaskUpdate, machine: TaskMachine): void {
    if (u.kind === 'lease') {
      if (u.token <= this.#maxToken) this.#fail('T1 growing tokens', `lease on ${u.taskId} got token ${u.token}, not above ${this.#maxToken}`)
      this.#maxToken = Math.max(this.#maxToken, u.token)
      return
    }
    if (u.kind === 'purged') {
      const last = this.#known.get(u.taskId)
      if (last === undefined || !TERMINAL.has(last)) this.#fail('T3 no loss', `task ${u.taskId} purged while ${last ?? 'unknown'}`)
      this.#purged.add(u.taskId)
      return
    }
    this.#known.set(u.taskId, u.state)
    if (u.state === 'completed') {
      this.completed++
      const n = (this.#completions.get(u.taskId) ?? 0) + 1
      this.#completions.set(u.taskId, n)
      if (n > 1) this.#fail('T2 completed at most once', `task ${u.taskId} completed ${n} times`)
    }
    if (u.state === 'retrying') this.#retrying.set(u.taskId, { atMs: u.atMs, attempt: u.attempt })
    else if (u.state !== 'submitted') this.#retrying.delete(u.taskId)
    if (u.state === 'submitted') {
      const r = this.#retrying.get(u.taskId)
      this.#retrying.delete(u.taskId)
      if (r === undefined) return
      const submit = this.#overrides.get(u.taskId)
      const floor = retryDelayFloorMs(effectiveRetry(machine.policy.retry, submit?.retry), Math.max(1, r.attempt))
      if (u.atMs - r.atMs < floor) this.#fail('T5 retry delay', `task ${u.taskId} retried ${u.atMs - r.atMs} ms after failing, backoff floor ${floor} ms`)
    }
  }

  /** Every task a submit created still exists, or was purged after it ended (T3); run now and then. */
  checkNoLoss (machine: TaskMachine): void {
    for (const [id, last] of this.#known) {
      if (this.#purged.has(id)) continue
      const view = machine.get(id)
      if (view === undefined) { this.#fail('T3 no loss', `task ${id} (last ${last}) vanished without being purged`); return }
    }
  }

  /**
   * Every task id a submitter was told about was created by an applied submit, and still exists or
   * was purged after it ended (T3 from the outside: an acknowledged task is never lost).
   */
  checkAcknowledged (ids: Iterable<string>, machine: TaskMachine): void {
    for (const id of ids) {
      if (!this.#known.has(id)) { this.#fail('T3 no loss', `task ${id} acknowledged to its submitter was never created by an applied submit`); return }
      if (!this.#purged.has(id) && machine.get(id) === undefined) { this.#fail('T3 no loss', `task ${id} acknowledged to its submitter is gone without being purged`); return }
    }
  }

  /** At the end of the drain phase: every task ended (liveness of T3). */
  checkAllEnded (machine: TaskMachine): void {
    for (const t of machine.tasks()) {
      if (!TERMINAL.has(t.state)) { this.#fail('T3 every task ends', `task ${t.id} still ${t.state} (attempt ${t.attempt}) after the drain phase`); return }
    }
  }

  get tasksCreated (): number { return this.#known.size }

  /** The idempotency key of the submit that created `taskId` (undefined: none, or not created). */
  keyOf (taskId: string): string | undefined { return this.#overrides.get(taskId)?.idempotencyKey }
}
