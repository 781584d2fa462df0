// Commands that create, steer and end tasks (submit, renew, cancel, answer, redrive) and the
// driver's commands (worker-dead, leader-changed, tick). SPEC tasks "Commands".

import type { SingleCommand } from './messages.ts'
import { failAttempt, outcome } from './outcomes.ts'
import { grantOf } from './dispatch.ts'
import { full, refuse } from './results.ts'
import type { LeaseGrant, TaskResult } from './results.ts'
import { IDEMPOTENCY_KEYS_MAX, QUEUE_BYTES_MAX, QUEUE_TASKS_MAX, TERMINAL_STATES, chargeOf } from './state.ts'
import type { QueueState, Task } from './state.ts'

type Cmd<Op extends SingleCommand['op']> = Extract<SingleCommand, { op: Op }>

/** `submit`: a new task, or the task already submitted under the same idempotency key (SPEC tasks T4). */
export function submit (s: QueueState, c: Cmd<'submit'>, taskId: string): TaskResult {
  if (c.idempotencyKey !== undefined && !s.faults.has('ignore-idempotency')) {
    const known = s.idempotency.get(c.idempotencyKey)
    if (known !== undefined && known.atMs + s.policy.dedupWindowMs > s.clockMs) {
      return { ok: true, op: 'submit', taskId: known.taskId, state: s.tasks.get(known.taskId)?.state ?? 'purged', duplicate: true }
    }
  }
  const task: Task = {
    id: taskId,
    seq: ++s.seq,
    state: 'submitted',
    attempt: 0,
    submitter: c.by,
    input: c.input,
    priority: c.priority ?? 0,
    timeoutMs: c.timeoutMs ?? 0,
    scheduleToStartMs: c.scheduleToStartMs ?? s.policy.scheduleToStartMs,
    startToCloseMs: c.startToCloseMs ?? s.policy.startToCloseMs,
    submittedAtMs: s.clockMs,
    readyAtMs: s.clockMs,
    notBeforeMs: 0,
    startedAtMs: 0,
    bids: [],
    history: [],
    historyDropped: 0,
    charge: 0
  }
  if (c.capability !== undefined) task.capability = c.capability
  if (c.idempotencyKey !== undefined) task.idempotencyKey = c.idempotencyKey
  if (c.retry !== undefined) task.retryOverride = c.retry
  if (!s.makeRoom(chargeOf(task), true)) return refuse('queue-full', `Cannot submit: the queue holds QUEUE_TASKS_MAX (${QUEUE_TASKS_MAX}) tasks or QUEUE_BYTES_MAX (${QUEUE_BYTES_MAX}) bytes of live work`)
  s.tasks.set(task.id, task) // charged by makeReady's transition
  if (task.timeoutMs > 0) s.due(s.clockMs + task.timeoutMs)
  if (c.idempotencyKey !== undefined) {
    s.idempotency.delete(c.idempotencyKey)
    s.idempotency.set(c.idempotencyKey, { taskId: task.id, atMs: s.clockMs })
    if (s.idempotency.size > IDEMPOTENCY_KEYS_MAX) s.idempotency.delete(s.idempotency.keys().next().value!) // oldest key forgotten early
    s.due(s.clockMs + s.policy.dedupWindowMs)
  }
  s.makeReady(task)
  return { ok: true, op: 'submit', taskId: task.id, state: task.state, duplicate: false }
}

/** `renew`: one command renews every unexpired lease of the worker, and says which of its held leases are lost. */
export function renew (s: QueueState, c: Cmd<'renew'>): TaskResult {
  const worker = s.touchWorker(c.worker)
  if (worker === undefined) return refuse('limit-exceeded', 'Cannot register worker: WORKERS_MAX reached')
  let renewed = 0
  const leases: LeaseGrant[] = []
  for (const task of s.leasedTasks(worker)) {
    const lease = task.lease!
    if (lease.expiresAtMs <= s.clockMs) continue // expired: the next timer scan hands it on (SPEC tasks T2)
    lease.expiresAtMs = s.clockMs + (lease.kind === 'work' ? s.policy.leaseMs : s.policy.validationLeaseMs)
    s.due(lease.expiresAtMs)
    renewed++
    leases.push(grantOf(task, lease))
  }
  const lost: string[] = []
  const canceled: string[] = []
  for (const held of c.held ?? []) {
    const task = s.tasks.get(held.taskId)
    if (task?.lease?.token === held.token && task.lease.worker === worker.id && task.lease.expiresAtMs > s.clockMs) continue
    if (task?.state === 'canceled') canceled.push(held.taskId)
    else lost.push(held.taskId)
  }
  return { ok: true, op: 'renew', renewed, lost, canceled, leases }
}

/** Whether `by` may steer the task: its submitter or a queue member. SPEC tasks "Threat model". */
function allowed (s: QueueState, task: Task, by: string): boolean {
  return task.submitter === by || s.policy.members.includes(by)
}

/** `cancel`: end a live task; its holder learns it on its next renew. */
export function cancel (s: QueueState, c: Cmd<'cancel'>): TaskResult {
  const task = s.tasks.get(c.taskId)
  if (task === undefined) return refuse('unknown-task', `Cannot cancel ${c.taskId}: no such task`)
  if (!allowed(s, task, c.by)) return refuse('not-allowed', `Cannot cancel ${c.taskId}: only its submitter or a queue member may`)
  if (TERMINAL_STATES.has(task.state)) return refuse('invalid-state', `Cannot cancel ${c.taskId}: it is already ${task.state}`)
  s.endLease(task)
  s.removeReady(task.id)
  s.transition(task, 'canceled')
  return { ok: true, op: 'task', taskId: task.id, state: task.state }
}

/** `answer`: the submitter answers an `input-required` task; it becomes claimable with the answer as feedback. */
export function answer (s: QueueState, c: Cmd<'answer'>): TaskResult {
  const task = s.tasks.get(c.taskId)
  if (task === undefined) return refuse('unknown-task', `Cannot answer ${c.taskId}: no such task`)
  if (!allowed(s, task, c.by)) return refuse('not-allowed', `Cannot answer ${c.taskId}: only its submitter or a queue member may`)
  if (task.state !== 'input-required') return refuse('invalid-state', `Cannot answer ${c.taskId}: it is ${task.state}`)
  if (!s.makeRoom(3 * c.answer.length, false)) return full(c.taskId)
  task.feedback = c.answer
  s.makeReady(task)
  return { ok: true, op: 'task', taskId: task.id, state: task.state }
}

/** `redrive`: send a dead letter back with a fresh attempt series (SQS StartMessageMoveTask). */
export function redrive (s: QueueState, c: Cmd<'redrive'>): TaskResult {
  const task = s.tasks.get(c.taskId)
  if (task === undefined) return refuse('unknown-task', `Cannot redrive ${c.taskId}: no such task`)
  if (!allowed(s, task, c.by)) return refuse('not-allowed', `Cannot redrive ${c.taskId}: only its submitter or a queue member may`)
  if (task.state !== 'failed' || task.forwardedTo !== undefined) return refuse('invalid-state', `Cannot redrive ${c.taskId}: it is ${task.state}${task.forwardedTo !== undefined ? ` (forwarded to ${task.forwardedTo})` : ''}, not a dead letter`)
  s.deadLetters.delete(task.id)
  task.attempt = 0
  task.submittedAtMs = s.clockMs // schedule-to-close counts again from here
  delete task.endedAtMs
  if (task.timeoutMs > 0) s.due(s.clockMs + task.timeoutMs)
  s.makeReady(task)
  return { ok: true, op: 'task', taskId: task.id, state: task.state }
}

/** `worker-dead` (health declared the worker dead): its leases end now and its tasks retry. */
export function workerDead (s: QueueState, c: Extract<SingleCommand, { op: 'worker-dead' }>): TaskResult {
  const worker = s.workers.get(c.worker)
  if (worker === undefined) return { ok: true, op: 'worker-dead', expired: 0 }
  let expired = 0
  for (const task of s.leasedTasks(worker)) {
    expired++
    expireLease(s, task, 'worker-dead')
  }
  s.workers.delete(worker.id)
  return { ok: true, op: 'worker-dead', expired }
}

/** A lease ends without a result: a work attempt fails (retryable), a validation goes back to the pool. */
export function expireLease (s: QueueState, task: Task, type: 'lease-expired' | 'worker-dead' | 'start-to-close-timeout'): void {
  const lease = task.lease!
  if (lease.kind === 'validate') { s.endLease(task); return }
  outcome(s, task, true)
  s.endLease(task)
  if (s.faults.has('drop-on-expiry')) return
  failAttempt(s, task, { type, message: `attempt ${task.attempt} ended: ${type}` }, { retryable: true })
}

/**
 * `leader-changed` (a new leader's first command): once per epoch, every live lease gets at least
 * a full lease from now, because workers could not renew while there was no leader (etcd lessor Promote).
 */
export function leaderChanged (s: QueueState, c: Extract<SingleCommand, { op: 'leader-changed' }>): TaskResult {
  if (c.epoch <= s.extendedEpoch || c.epoch < s.epoch) return { ok: true, op: 'leader-changed', extended: 0 }
  s.extendedEpoch = c.epoch
  startEpoch(s, c.epoch)
  let extended = 0
  for (const task of s.tasks.values()) {
    const lease = task.lease
    if (lease === undefined || lease.expiresAtMs <= s.clockMs) continue
    const until = s.clockMs + (lease.kind === 'work' ? s.policy.leaseMs : s.policy.validationLeaseMs)
    if (until > lease.expiresAtMs) { lease.expiresAtMs = until; extended++ }
  }
  return { ok: true, op: 'leader-changed', extended }
}

/**
 * `tick`: the replicated clock. Within an epoch the clock is base + elapsed (the leader's monotonic
 * ms since its epoch began), never going back; a duplicate or reordered tick changes nothing; a
 * tick of an older epoch (a deposed leader) is ignored; a newer epoch starts at the current clock.
 */
export function tick (s: QueueState, c: Extract<SingleCommand, { op: 'tick' }>): TaskResult {
  if (c.epoch < s.epoch) return { ok: true, op: 'tick', clockMs: s.clockMs }
  startEpoch(s, c.epoch)
  s.clockMs = Math.max(s.clockMs, s.epochBaseMs + c.elapsedMs)
  return { ok: true, op: 'tick', clockMs: s.clockMs }
}

function startEpoch (s: QueueState, epoch: number): void {
  if (epoch <= s.epoch) return
  s.epoch = epoch
  s.epochBaseMs = s.clockMs
}
