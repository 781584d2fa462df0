// What applying a command returns: deterministic values every replica computes alike (they may be
// cached in the Raft session table, so they stay small: a claim returns leases, not inputs).

import type { LeaseKind } from './messages.ts'
import { QUEUE_BYTES_MAX } from './state.ts'
import type { TaskState } from './state.ts'

/** A lease handed to a worker: its fencing token and attempt are its keys for idempotent side effects. */
export interface LeaseGrant { taskId: string, attempt: number, token: number, expiresAtMs: number, kind: LeaseKind }

/** Why a result (complete, fail, verdict, ask) was not applied: the lease it names is not current. */
export type StaleReason = 'unknown-task' | 'not-leased' | 'wrong-kind' | 'token-mismatch' | 'not-holder' | 'lease-expired'

/** Refusals that are not stale leases. */
export type RefusalCode = 'unknown-task' | 'queue-full' | 'not-allowed' | 'invalid-state' | 'already-applied' | 'limit-exceeded'

/** A refused command: nothing changed. */
export type TaskRefusal =
  | { ok: false, code: 'stale-lease', reason: StaleReason, taskId: string, message: string }
  | { ok: false, code: RefusalCode, message: string }

/** An applied command's outcome. */
export type TaskSuccess =
  | { ok: true, op: 'submit', taskId: string, state: TaskState | 'purged', duplicate: boolean }
  | { ok: true, op: 'claim', leases: LeaseGrant[], reason?: string }
  | { ok: true, op: 'renew', renewed: number, lost: string[], canceled: string[], leases: LeaseGrant[] }
  | { ok: true, op: 'task', taskId: string, state: TaskState }
  | { ok: true, op: 'bid', taskId: string, bids: number }
  | { ok: true, op: 'award', taskId: string, state: TaskState, lease?: LeaseGrant }
  | { ok: true, op: 'worker-dead', expired: number }
  | { ok: true, op: 'leader-changed', extended: number }
  | { ok: true, op: 'tick', clockMs: number }
  | { ok: true, op: 'batch', results: TaskResult[] }

/** Result of `TaskMachine.apply`. */
export type TaskResult = TaskSuccess | TaskRefusal

/** A refusal with a message. */
export function refuse (code: RefusalCode, message: string): TaskRefusal { return { ok: false, code, message } }

/** The refusal when a command's notes or output do not fit QUEUE_BYTES_MAX. */
export function full (taskId: string): TaskRefusal {
  return refuse('queue-full', `Cannot store more for task ${taskId}: QUEUE_BYTES_MAX (${QUEUE_BYTES_MAX}) reached; retry after retention frees space`)
}

/** A stale-lease refusal. */
export function stale (reason: StaleReason, taskId: string, detail: string): TaskRefusal {
  return { ok: false, code: 'stale-lease', reason, taskId, message: `Stale lease on task ${taskId}: ${reason} (${detail})` }
}

/** One stable line describing a result, for traces and logs. */
export function describeResult (r: TaskResult): string {
  if (!r.ok) return `refused ${r.code}${r.code === 'stale-lease' ? ` (${r.reason})` : ''}`
  switch (r.op) {
    case 'submit': return `${r.taskId}${r.duplicate ? ' (duplicate)' : ''}`
    case 'claim': case 'renew': return `leases [${r.leases.map((l) => `${l.taskId}#${l.token}`).join(' ')}]`
    case 'task': case 'award': return `${r.taskId} ${r.state}`
    case 'batch': return `batch [${r.results.map(describeResult).join(', ')}]`
    case 'bid': return `${r.taskId} bids=${r.bids}`
    case 'worker-dead': return `expired ${r.expired}`
    case 'leader-changed': return `extended ${r.extended}`
    case 'tick': return `clock ${r.clockMs}`
  }
}
