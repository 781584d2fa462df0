// Typed errors a queue's callers get from refused commands and failed tasks.

import { AgentMeshError } from '../kit/errors.ts'
import type { StaleReason, TaskRefusal } from './results.ts'
import type { TaskError } from './messages.ts'

/** A worker's result named a lease that is no longer current: another worker may own the task now. */
export class StaleLeaseError extends AgentMeshError {
  override name = 'StaleLeaseError'
  readonly reason: StaleReason
  readonly taskId: string
  constructor (message: string, details: { reason: StaleReason, taskId: string }) {
    super('ERR_STALE_LEASE', message)
    this.reason = details.reason
    this.taskId = details.taskId
  }
}

/** A command the queue refused for another reason (full, not allowed, wrong state). */
export class TaskRefusedError extends AgentMeshError {
  override name = 'TaskRefusedError'
  readonly refusal: string
  constructor (refusal: string, message: string) { super('ERR_TASK_REFUSED', message); this.refusal = refusal }
}

/** A task ended `failed` (or `rejected`, `canceled`) rather than `completed`. */
export class TaskFailedError extends AgentMeshError {
  override name = 'TaskFailedError'
  readonly taskId: string
  readonly error: TaskError | undefined
  constructor (taskId: string, details: { state: string, error?: TaskError }) {
    super('ERR_TASK_FAILED', `Task ${taskId} ended ${details.state}${details.error !== undefined ? `: ${details.error.type}: ${details.error.message}` : ''}`)
    this.taskId = taskId
    this.error = details.error
  }
}

/** The typed error for a refused command. */
export function errorFromRefusal (refusal: TaskRefusal): StaleLeaseError | TaskRefusedError {
  if (refusal.code === 'stale-lease') return new StaleLeaseError(refusal.message, { reason: refusal.reason, taskId: refusal.taskId })
  return new TaskRefusedError(refusal.code, refusal.message)
}

/** `open` or `work` named a queue that no member hosts and no DHT record names. */
export class QueueNotFoundError extends AgentMeshError {
  override name = 'QueueNotFoundError'
  readonly queue: string
  constructor (queue: string, message: string) { super('ERR_QUEUE_NOT_FOUND', message); this.queue = queue }
}

/** A queue member refused a request (malformed, oversized, rate-limited, not hosted there). */
export class TaskRequestRefusedError extends AgentMeshError {
  override name = 'TaskRequestRefusedError'
  readonly refusal: string
  constructor (refusal: string, message: string) { super('ERR_TASK_REQUEST_REFUSED', message); this.refusal = refusal }
}
