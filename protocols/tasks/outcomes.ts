// Results of an attempt: complete, fail, the gate's verdict, a question to the submitter, and
// what a failed attempt leads to (retry with backoff, or a dead letter). SPEC tasks T2, "Retries".

import { retryDelayMs } from './backoff.ts'
import { recordOutcome } from './breaker.ts'
import type { SingleCommand, TaskError } from './messages.ts'
import { attemptsAllowed } from './policy.ts'
import { full, stale } from './results.ts'
import type { TaskRefusal, TaskResult } from './results.ts'
import { TERMINAL_STATES } from './state.ts'
import type { QueueState, Task } from './state.ts'

type Cmd<Op extends SingleCommand['op']> = Extract<SingleCommand, { op: Op }>

/** The task whose current lease the command names, or why not (SPEC tasks T2). */
export function currentLease (s: QueueState, c: { taskId: string, token: number, worker: string }, kind: 'work' | 'validate'): Task | TaskRefusal {
  const task = s.tasks.get(c.taskId)
  if (task === undefined) return stale('unknown-task', c.taskId, 'no such task (or purged)')
  if (s.faults.has('complete-twice') && task.state === 'completed') return task
  const lease = task.lease
  if (lease === undefined) return stale('not-leased', c.taskId, `task is ${task.state}`)
  if (lease.kind !== kind) return stale('wrong-kind', c.taskId, `lease is for ${lease.kind}`)
  const unsafe = s.faults.has('accept-stale-token')
  if (lease.token !== c.token && !unsafe) return stale('token-mismatch', c.taskId, `token ${c.token}, current ${lease.token}`)
  if (lease.worker !== c.worker && !unsafe) return stale('not-holder', c.taskId, 'held by another worker')
  if (lease.expiresAtMs <= s.clockMs && !unsafe) return stale('lease-expired', c.taskId, `expired at ${lease.expiresAtMs}, now ${s.clockMs}`)
  return task
}

/** `complete`: the current holder's output; through the gate when the queue has one. */
export function complete (s: QueueState, c: Cmd<'complete'>): TaskResult {
  const task = currentLease(s, c, 'work')
  if (!isTask(task)) return task
  if (!s.makeRoom(c.output.byteLength, false)) return full(c.taskId)
  outcome(s, task, false)
  s.endLease(task)
  task.output = c.output
  s.transition(task, s.policy.gate ? 'validating' : 'completed')
  return { ok: true, op: 'task', taskId: task.id, state: task.state }
}

/** `fail`: the current holder gave up; retry or dead letter. */
export function fail (s: QueueState, c: Cmd<'fail'>): TaskResult {
  const task = currentLease(s, c, 'work')
  if (!isTask(task)) return task
  if (!s.makeRoom(3 * (c.error.type.length + c.error.message.length), false)) return full(c.taskId)
  outcome(s, task, true)
  s.endLease(task)
  failAttempt(s, task, c.error, { retryable: c.retryable !== false })
  return { ok: true, op: 'task', taskId: task.id, state: task.state }
}

/** `verdict`: the gate accepts (completed), rejects for good (rejected), or sends feedback to a new attempt. */
export function verdict (s: QueueState, c: Cmd<'verdict'>): TaskResult {
  const task = currentLease(s, c, 'validate')
  if (!isTask(task)) return task
  if (!s.makeRoom(6 * (c.feedback?.length ?? 0) + 60, false)) return full(c.taskId)
  s.endLease(task)
  if (c.accept) {
    s.transition(task, 'completed')
  } else {
    delete task.output
    if (c.feedback !== undefined) task.feedback = c.feedback
    const error = { type: 'rejected-by-gate', message: c.feedback ?? '' }
    if (c.final === true) { task.error = error; s.transition(task, 'rejected') } else failAttempt(s, task, error, { retryable: true })
  }
  return { ok: true, op: 'task', taskId: task.id, state: task.state }
}

/** `ask`: the worker needs input from the submitter; the lease ends until an answer comes. */
export function ask (s: QueueState, c: Cmd<'ask'>): TaskResult {
  const task = currentLease(s, c, 'work')
  if (!isTask(task)) return task
  if (!s.makeRoom(3 * c.question.length, false)) return full(c.taskId)
  s.endLease(task)
  task.question = c.question
  s.transition(task, 'input-required')
  return { ok: true, op: 'task', taskId: task.id, state: task.state }
}

/**
 * An attempt failed (lease lost, timeout, error, gate rejection): `failed` when the error is not
 * retryable or the attempts are spent, else `retrying` until the backoff has passed.
 */
export function failAttempt (s: QueueState, task: Task, error: TaskError, options: { retryable: boolean }): void {
  const retry = s.retryOf(task)
  task.error = error
  if (!options.retryable || retry.nonRetryableErrors.includes(error.type) || task.attempt >= attemptsAllowed(retry)) {
    s.transition(task, 'failed')
    return
  }
  task.notBeforeMs = s.clockMs + retryDelayMs(retry, { taskId: task.id, failedAttempt: Math.max(1, task.attempt) })
  s.transition(task, 'retrying')
  s.due(task.notBeforeMs)
}

/** End a live task for a reason of the queue's own (timeout, no healthy worker): no retry. */
export function endLive (s: QueueState, task: Task, error: TaskError): void {
  if (TERMINAL_STATES.has(task.state)) return
  s.endLease(task)
  s.removeReady(task.id)
  task.error = error
  s.transition(task, 'failed')
}

/** Count a work outcome on the holder's breaker. */
export function outcome (s: QueueState, task: Task, failed: boolean): void {
  const worker = task.lease === undefined ? undefined : s.workers.get(task.lease.worker)
  if (worker !== undefined && task.lease?.kind === 'work') recordOutcome(worker.breaker, s.policy.breaker, { failed, nowMs: s.clockMs })
}

function isTask (value: Task | TaskRefusal): value is Task { return !('ok' in value) }
