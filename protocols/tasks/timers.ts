// Everything the replicated clock triggers: lease expiry, start-to-close and schedule-to-start
// timeouts, retry backoff ending, fallback when every breaker is open, and the retention of
// ended tasks, dead letters, idempotency keys and idle workers. Bounded per apply.

import { refreshBreaker } from './breaker.ts'
import { expireLease } from './commands.ts'
import { endLive } from './outcomes.ts'
import { EXPIRIES_PER_APPLY_MAX, TERMINAL_STATES } from './state.ts'
import type { QueueState, Task } from './state.ts'

/** A worker silent for this many lease periods, holding no lease, is forgotten (it re-registers by claiming). */
export const WORKER_IDLE_LEASES = 3

/** Run the timers that are due at the current clock; at most EXPIRIES_PER_APPLY_MAX of them per pass. */
export function runTimers (s: QueueState): void {
  if (s.clockMs < s.nextDueMs) return
  let budget = EXPIRIES_PER_APPLY_MAX
  let next = Infinity
  s.nextDueMs = Infinity // transitions during the scan add their own timers through due()
  const at = (ms: number): boolean => { if (ms <= s.clockMs) return true; next = Math.min(next, ms); return false }
  const openByCapability = new Map<string, boolean>() // memo: every serving worker's breaker open
  for (const task of [...s.tasks.values()]) {
    if (budget <= 0) break
    if (TERMINAL_STATES.has(task.state)) continue
    if (task.timeoutMs > 0 && at(task.submittedAtMs + task.timeoutMs)) { // schedule-to-close
      budget--; endLive(s, task, { type: 'timeout', message: `not done within ${task.timeoutMs} ms of submit` }); continue
    }
    const lease = task.lease
    if (lease !== undefined) {
      if (at(lease.expiresAtMs)) { budget--; expireLease(s, task, 'lease-expired'); continue }
      if (lease.kind === 'work' && task.startToCloseMs > 0 && at(task.startedAtMs + task.startToCloseMs)) { budget--; expireLease(s, task, 'start-to-close-timeout'); continue }
      continue
    }
    if (task.state === 'retrying') {
      if (!at(task.notBeforeMs)) continue
      budget--; s.makeReady(task) // and on to the checks of a waiting task
    }
    if (task.state !== 'submitted') continue
    if (task.scheduleToStartMs > 0 && at(task.readyAtMs + task.scheduleToStartMs)) {
      budget--; endLive(s, task, { type: 'no-healthy-worker', message: `no worker started it within ${task.scheduleToStartMs} ms` }); continue
    }
    if (s.policy.fallbackQueue !== undefined && allBreakersOpen(s, task, openByCapability)) { budget--; forward(s, task, s.policy.fallbackQueue) }
  }
  budget = retire(s, budget, at)
  s.nextDueMs = budget <= 0 ? s.clockMs : Math.min(s.nextDueMs, next)
}

/** Purge ended tasks and dead letters past retention or count, stale idempotency keys and idle workers. */
function retire (s: QueueState, budget: number, at: (ms: number) => boolean): number {
  for (const [id, endedAtMs] of s.ended) {
    if (budget <= 0 || !at(endedAtMs + s.policy.retentionMs)) break
    budget--; s.purge(s.tasks.get(id)!)
  }
  for (const [id, failedAtMs] of s.deadLetters) {
    if (budget <= 0) break
    if (s.deadLetters.size <= s.policy.deadLetter.maxTasks && !at(failedAtMs + s.policy.deadLetter.retentionMs)) break
    budget--; s.purge(s.tasks.get(id)!)
  }
  for (const [key, entry] of s.idempotency) {
    if (budget <= 0 || !at(entry.atMs + s.policy.dedupWindowMs)) break
    budget--; s.idempotency.delete(key)
  }
  for (const worker of [...s.workers.values()]) {
    refreshBreaker(worker.breaker, s.policy.breaker, s.clockMs)
    if (worker.breaker.state === 'open') at(worker.breaker.openedAtMs + s.policy.breaker.waitDurationInOpenStateMs)
    if (worker.leases.size > 0) continue
    if (at(worker.lastSeenMs + WORKER_IDLE_LEASES * s.policy.leaseMs)) s.workers.delete(worker.id)
  }
  return budget
}

/** Whether some workers serve the task's capability and every one of them has an open breaker. */
function allBreakersOpen (s: QueueState, task: Task, memo: Map<string, boolean>): boolean {
  const key = task.capability ?? ''
  const known = memo.get(key)
  if (known !== undefined) return known
  let serving = 0
  let open = 0
  for (const w of s.workers.values()) {
    if (!s.serves(w, task)) continue
    serving++
    refreshBreaker(w.breaker, s.policy.breaker, s.clockMs)
    if (w.breaker.state === 'open') open++
  }
  const result = serving > 0 && open === serving
  memo.set(key, result)
  return result
}

/** Hand a task to the fallback queue: it ends here (not a dead letter); the node resubmits it there. */
function forward (s: QueueState, task: Task, queue: string): void {
  task.forwardedTo = queue
  endLive(s, task, { type: 'no-healthy-worker', message: `every worker's breaker is open; forwarded to ${queue}` })
  s.deadLetters.delete(task.id)
  s.ended.set(task.id, s.clockMs)
  s.due(s.clockMs + s.policy.retentionMs)
}
