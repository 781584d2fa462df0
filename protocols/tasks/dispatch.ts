// Who gets which task, decided inside apply so every replica decides alike: pull claims,
// round-robin and least-connections pushes, and contract-net bids and awards. SPEC tasks "Dispatch".

import { breakerPermits } from './breaker.ts'
import type { SingleCommand } from './messages.ts'
import { attemptsAllowed } from './policy.ts'
import { full, refuse } from './results.ts'
import type { LeaseGrant, TaskResult } from './results.ts'
import { failAttempt } from './outcomes.ts'
import { BIDS_MAX, DISPATCH_PER_APPLY_MAX } from './state.ts'

/**
 * Ready tasks one push pass may skip (no eligible worker for their capability) before it stops:
 * bounds an apply when thousands of tasks wait for a capability nobody serves.
 */
export const DISPATCH_SCAN_MAX = 1024
import type { Lease, QueueState, Task, Worker } from './state.ts'

type Cmd<Op extends SingleCommand['op']> = Extract<SingleCommand, { op: Op }>

/** The lease as the worker learns it. */
export function grantOf (task: Task, lease: Lease): LeaseGrant {
  return { taskId: task.id, attempt: task.attempt, token: lease.token, expiresAtMs: lease.expiresAtMs, kind: lease.kind }
}

/** Free slots of a worker. */
function freeSlots (w: Worker): number { return Math.max(0, w.concurrency - w.leases.size) }

/**
 * Whether the worker may take this task now: heard from within one lease period (a crashed worker
 * stops renewing, so pushes stop), serves the capability, has a slot, and its breaker allows.
 */
export function eligible (s: QueueState, w: Worker, task: Task): boolean {
  return freeSlots(w) > 0 && w.lastSeenMs + s.policy.leaseMs > s.clockMs && s.serves(w, task) && breakerPermits(w.breaker, s.policy.breaker, s.clockMs)
}

/** `claim`: register the worker; lease up to `max` tasks (pull), or push pending work to every worker. */
export function claim (s: QueueState, c: Cmd<'claim'>): TaskResult {
  const announce: { capabilities?: string[], concurrency?: number } = {}
  if (c.capabilities !== undefined) announce.capabilities = c.capabilities
  if (c.concurrency !== undefined) announce.concurrency = c.concurrency
  const worker = s.touchWorker(c.worker, announce)
  if (worker === undefined) return refuse('limit-exceeded', 'Cannot register worker: WORKERS_MAX reached and every worker holds a lease')
  const leases: LeaseGrant[] = []
  if (c.kind === 'validate') {
    for (const task of s.tasks.values()) {
      if (leases.length >= c.max || freeSlots(worker) === 0) break
      if (task.state !== 'validating' || task.lease !== undefined || task.worker === worker.id) continue // no one judges their own work
      leases.push(grantOf(task, s.grantLease(task, worker, 'validate')))
    }
    return { ok: true, op: 'claim', leases }
  }
  if (s.policy.dispatch === 'bid') return { ok: true, op: 'claim', leases, reason: 'this queue awards tasks by bids' }
  if (s.policy.dispatch !== 'pull') {
    const before = s.token
    pushReady(s)
    for (const task of s.leasedTasks(worker)) {
      if (task.lease!.token > before) leases.push(grantOf(task, task.lease!))
    }
    return { ok: true, op: 'claim', leases }
  }
  if (!breakerPermits(worker.breaker, s.policy.breaker, s.clockMs)) return { ok: true, op: 'claim', leases, reason: `breaker ${worker.breaker.state}` }
  for (let i = 0; i < s.ready.length && leases.length < c.max && freeSlots(worker) > 0;) {
    const task = s.tasks.get(s.ready[i]!)!
    if (!eligible(s, worker, task)) { i++; continue }
    leases.push(grantOf(task, s.grantLease(task, worker, 'work'))) // removes it from ready: same i next
  }
  return { ok: true, op: 'claim', leases }
}

/** Push ready tasks to workers (round-robin or least-connections); bounded per apply. */
export function pushReady (s: QueueState): void {
  if (s.policy.dispatch !== 'round-robin' && s.policy.dispatch !== 'least-connections') return
  if (s.ready.length === 0) return
  const order = [...s.workers.values()].filter((w) => freeSlots(w) > 0 && w.lastSeenMs + s.policy.leaseMs > s.clockMs).map((w) => w.id).sort()
  if (order.length === 0) return // the common case under load: nobody has a free slot
  let granted = 0
  let skipped = 0
  for (let i = 0; i < s.ready.length && granted < DISPATCH_PER_APPLY_MAX && skipped < DISPATCH_SCAN_MAX;) {
    const task = s.tasks.get(s.ready[i]!)!
    const worker = pick(s, order, task)
    if (worker === undefined) { i++; skipped++; continue }
    s.grantLease(task, worker, 'work')
    s.cursor = worker.id
    granted++
  }
}

/** The next worker after the cursor (round-robin), or the least loaded, ties in round-robin order. */
function pick (s: QueueState, order: string[], task: Task): Worker | undefined {
  const start = order.findIndex((id) => id > s.cursor)
  let best: Worker | undefined
  for (let k = 0; k < order.length; k++) {
    const w = s.workers.get(order[(Math.max(0, start) + k) % order.length]!)!
    if (!eligible(s, w, task)) continue
    if (s.policy.dispatch === 'round-robin') return w
    if (best === undefined || w.leases.size < best.leases.size) best = w
  }
  return best
}

/** `bid`: a worker's offer for the attempt being auctioned (FIPA propose); one bid per worker. */
export function bid (s: QueueState, c: Cmd<'bid'>): TaskResult {
  const task = s.tasks.get(c.taskId)
  if (task === undefined) return refuse('unknown-task', `Cannot bid on ${c.taskId}: no such task`)
  if (s.policy.dispatch !== 'bid') return refuse('invalid-state', `Cannot bid on ${c.taskId}: the queue dispatches by ${s.policy.dispatch}`)
  if (task.state !== 'submitted' || c.attempt !== task.attempt + 1) return refuse('invalid-state', `Cannot bid on ${c.taskId}: attempt ${c.attempt} is not open (task ${task.state}, attempt ${task.attempt})`)
  if (s.touchWorker(c.worker) === undefined) return refuse('limit-exceeded', 'Cannot register worker: WORKERS_MAX reached')
  const existing = task.bids.findIndex((b) => b.worker === c.worker)
  if (existing >= 0) task.bids.splice(existing, 1)
  else if (task.bids.length >= BIDS_MAX) return refuse('limit-exceeded', `Cannot bid on ${c.taskId}: BIDS_MAX (${BIDS_MAX}) bids already`)
  if (existing < 0 && !s.makeRoom(3 * c.worker.length + 40, false)) return full(c.taskId)
  task.bids.push({ worker: c.worker, cost: c.cost, etaMs: c.etaMs })
  s.settle(task)
  return { ok: true, op: 'bid', taskId: task.id, bids: task.bids.length }
}

/**
 * `award` (proposed by the leader when bidding closes): the lease goes to the best eligible bid,
 * lowest cost, then earliest eta, then peer id. No bid: the attempt counts as failed with
 * `no-bidder`, and the task is `rejected` once the attempts are spent.
 */
export function award (s: QueueState, c: Extract<SingleCommand, { op: 'award' }>): TaskResult {
  const task = s.tasks.get(c.taskId)
  if (task === undefined) return refuse('unknown-task', `Cannot award ${c.taskId}: no such task`)
  if (s.policy.dispatch !== 'bid' || task.state !== 'submitted' || c.attempt !== task.attempt + 1) return refuse('invalid-state', `Cannot award ${c.taskId} attempt ${c.attempt}: task ${task.state}, attempt ${task.attempt}`)
  const bids = [...task.bids].sort((a, b) => a.cost - b.cost || a.etaMs - b.etaMs || (a.worker < b.worker ? -1 : a.worker > b.worker ? 1 : 0))
  for (const b of bids) {
    const worker = s.workers.get(b.worker)
    if (worker === undefined || !eligible(s, worker, task)) continue
    const lease = s.grantLease(task, worker, 'work')
    task.bids = bids
    return { ok: true, op: 'award', taskId: task.id, state: task.state, lease: grantOf(task, lease) }
  }
  s.removeReady(task.id)
  task.attempt++
  if (task.attempt >= attemptsAllowed(s.retryOf(task))) {
    task.error = { type: 'no-bidder', message: `no eligible bid in ${task.attempt} calls for bids` }
    s.transition(task, 'rejected')
  } else {
    failAttempt(s, task, { type: 'no-bidder', message: 'no eligible bid' }, { retryable: true })
  }
  return { ok: true, op: 'award', taskId: task.id, state: task.state }
}
