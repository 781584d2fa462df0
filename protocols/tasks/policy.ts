// A queue's policy: dispatch mode, lease, retry (Temporal's names), circuit breaker
// (Resilience4j's names), dead letters, with defaults and validation (SPEC tasks "Policy").

import { DecodeError } from '../kit/errors.ts'
import { ATTEMPTS_MAX, DURATION_MS_MAX, NAME_CHARS_MAX, validateRetry } from './messages.ts'
import type { RetryPolicy } from './messages.ts'

/** How tasks reach workers; decided inside `apply`, so every replica decides the same. */
export type DispatchMode = 'pull' | 'round-robin' | 'least-connections' | 'bid'
export const DISPATCH_MODES: readonly DispatchMode[] = ['pull', 'round-robin', 'least-connections', 'bid']

/** Resilience4j's count-based circuit breaker, per worker. */
export interface BreakerPolicy {
  /** Percent of failed calls in the window at or above which the breaker opens. */
  failureRateThreshold: number
  /** Outcomes remembered per worker (count-based window). */
  slidingWindowSize: number
  /** Outcomes needed before the failure rate counts. */
  minimumNumberOfCalls: number
  /** Time open before a trial (half-open), on the replicated clock. */
  waitDurationInOpenStateMs: number
  /** Trial calls while half-open; their failure rate decides open or closed. */
  permittedNumberOfCallsInHalfOpenState: number
}

/** Failed tasks kept for inspection and redrive. */
export interface DeadLetterPolicy { maxTasks: number, retentionMs: number }

/** Everything a queue decides by; the same on every replica (it is part of the snapshot). */
export interface QueuePolicy {
  dispatch: DispatchMode
  /** Visibility timeout: a lease not renewed for this long expires. */
  leaseMs: number
  /** Lease of a validator judging a result (the quality gate). */
  validationLeaseMs: number
  retry: RetryPolicy
  breaker: BreakerPolicy
  deadLetter: DeadLetterPolicy
  /** Results go through `validating` and need a verdict. */
  gate: boolean
  /** Queue that takes over when every worker's breaker is open; without it tasks wait (or time out). */
  fallbackQueue?: string
  /** Peer ids of the queue's replicas: they may cancel and redrive any task. */
  members: string[]
  /** How long an idempotency key maps to its task. */
  dedupWindowMs: number
  /** How long completed, canceled and rejected tasks stay readable. */
  retentionMs: number
  /** Default schedule-to-start for tasks that do not set one (0 = none). */
  scheduleToStartMs: number
  /** Default start-to-close for tasks that do not set one (0 = none). */
  startToCloseMs: number
}

/** Options as a user gives them (DESIGN `node.tasks.open`): every field optional. */
export interface QueueOptions {
  dispatch?: DispatchMode
  leaseMs?: number
  validationLeaseMs?: number
  retry?: Partial<RetryPolicy>
  breaker?: Partial<BreakerPolicy>
  deadLetter?: Partial<DeadLetterPolicy>
  gate?: boolean
  fallbackQueue?: string
  members?: string[]
  dedupWindowMs?: number
  retentionMs?: number
  scheduleToStartMs?: number
  startToCloseMs?: number
}

/** Temporal's defaults; `maximumAttempts` 0 = ATTEMPTS_MAX; jitter is ours (hash of task id and attempt). */
export const RETRY_DEFAULTS: RetryPolicy = {
  initialIntervalMs: 1000,
  backoffCoefficient: 2,
  maximumIntervalMs: 100_000, // 100 × initialIntervalMs, as Temporal
  maximumAttempts: 0,
  nonRetryableErrors: [],
  jitter: 0.2
}

/**
 * Resilience4j's names; its defaults (window 100, minimum 100 calls, 60 s open) never trip for
 * agents that take a few tasks a minute, so the window and minimum are smaller here.
 */
export const BREAKER_DEFAULTS: BreakerPolicy = {
  failureRateThreshold: 50,
  slidingWindowSize: 20,
  minimumNumberOfCalls: 5,
  waitDurationInOpenStateMs: 30_000,
  permittedNumberOfCallsInHalfOpenState: 1
}

/** Largest breaker window: each worker's window is part of the snapshot. */
export const SLIDING_WINDOW_MAX = 1000
/** Largest dead-letter count a queue may configure: dead letters are in the snapshot. */
export const DEAD_LETTERS_MAX = 1024
/** Members a policy may name (= raft VOTERS_MAX). */
export const MEMBERS_MAX = 64

/** Fill defaults and validate; throws DecodeError naming the bad option. */
export function queuePolicy (options: QueueOptions = {}): QueuePolicy {
  const leaseMs = options.leaseMs ?? 30_000 // SQS visibility timeout and BullMQ lockDuration
  const retry = { ...RETRY_DEFAULTS, ...validateRetry(options.retry ?? {}, 'queue retry option') }
  if (options.retry?.initialIntervalMs !== undefined && options.retry.maximumIntervalMs === undefined) retry.maximumIntervalMs = Math.min(DURATION_MS_MAX, 100 * retry.initialIntervalMs)
  const policy: QueuePolicy = {
    dispatch: options.dispatch ?? 'pull',
    leaseMs,
    validationLeaseMs: options.validationLeaseMs ?? leaseMs,
    retry,
    breaker: { ...BREAKER_DEFAULTS, ...options.breaker },
    deadLetter: { maxTasks: options.deadLetter?.maxTasks ?? DEAD_LETTERS_MAX, retentionMs: options.deadLetter?.retentionMs ?? 7 * 86_400_000 },
    gate: options.gate ?? false,
    members: [...(options.members ?? [])].sort(),
    dedupWindowMs: options.dedupWindowMs ?? 86_400_000, // agents retry over hours, not SQS's 5 minutes
    retentionMs: options.retentionMs ?? 86_400_000,
    scheduleToStartMs: options.scheduleToStartMs ?? 0,
    startToCloseMs: options.startToCloseMs ?? 0
  }
  if (options.fallbackQueue !== undefined) policy.fallbackQueue = options.fallbackQueue
  checkPolicy(policy)
  return policy
}

function checkPolicy (p: QueuePolicy): void {
  const bad = (what: string): never => { throw new DecodeError(`Invalid queue policy: ${what}`) }
  if (!DISPATCH_MODES.includes(p.dispatch)) bad(`dispatch must be one of ${DISPATCH_MODES.join(', ')}`)
  const ms = (v: number, what: string, min = 0): void => { if (!Number.isSafeInteger(v) || v < min || v > DURATION_MS_MAX) bad(`${what} must be an integer of ms in [${min}, ${DURATION_MS_MAX}]`) }
  ms(p.leaseMs, 'leaseMs', 1); ms(p.validationLeaseMs, 'validationLeaseMs', 1); ms(p.dedupWindowMs, 'dedupWindowMs'); ms(p.retentionMs, 'retentionMs')
  ms(p.scheduleToStartMs, 'scheduleToStartMs'); ms(p.startToCloseMs, 'startToCloseMs'); ms(p.deadLetter.retentionMs, 'deadLetter.retentionMs')
  ms(p.breaker.waitDurationInOpenStateMs, 'breaker.waitDurationInOpenStateMs')
  const b = p.breaker
  if (!(b.failureRateThreshold > 0 && b.failureRateThreshold <= 100)) bad('breaker.failureRateThreshold must be a percent in (0, 100]')
  if (!Number.isSafeInteger(b.slidingWindowSize) || b.slidingWindowSize < 1 || b.slidingWindowSize > SLIDING_WINDOW_MAX) bad(`breaker.slidingWindowSize must be an integer in [1, SLIDING_WINDOW_MAX ${SLIDING_WINDOW_MAX}]`)
  if (!Number.isSafeInteger(b.minimumNumberOfCalls) || b.minimumNumberOfCalls < 1 || b.minimumNumberOfCalls > b.slidingWindowSize) bad('breaker.minimumNumberOfCalls must be an integer in [1, slidingWindowSize]')
  if (!Number.isSafeInteger(b.permittedNumberOfCallsInHalfOpenState) || b.permittedNumberOfCallsInHalfOpenState < 1 || b.permittedNumberOfCallsInHalfOpenState > b.slidingWindowSize) bad('breaker.permittedNumberOfCallsInHalfOpenState must be an integer in [1, slidingWindowSize]')
  if (!Number.isSafeInteger(p.deadLetter.maxTasks) || p.deadLetter.maxTasks < 0 || p.deadLetter.maxTasks > DEAD_LETTERS_MAX) bad(`deadLetter.maxTasks must be an integer in [0, DEAD_LETTERS_MAX ${DEAD_LETTERS_MAX}]`)
  if (p.members.length > MEMBERS_MAX) bad(`members exceeds MEMBERS_MAX (${MEMBERS_MAX})`)
  if (p.fallbackQueue !== undefined && (typeof p.fallbackQueue !== 'string' || p.fallbackQueue.length === 0 || p.fallbackQueue.length > NAME_CHARS_MAX)) bad('fallbackQueue must be a queue name')
  if (p.retry.maximumAttempts > ATTEMPTS_MAX) bad(`retry.maximumAttempts exceeds ATTEMPTS_MAX (${ATTEMPTS_MAX})`)
}

/** A task's effective retry policy: the queue's, overridden field by field by the submit's. */
export function effectiveRetry (queue: RetryPolicy, override: Partial<RetryPolicy> | undefined): RetryPolicy {
  if (override === undefined) return queue
  const merged = { ...queue, ...override }
  if (override.initialIntervalMs !== undefined && override.maximumIntervalMs === undefined) merged.maximumIntervalMs = Math.min(DURATION_MS_MAX, 100 * override.initialIntervalMs) // Temporal: 100 × initial
  return merged
}

/** Attempts allowed in all: Temporal's 0 ("unlimited") is ATTEMPTS_MAX here. */
export function attemptsAllowed (retry: RetryPolicy): number {
  return retry.maximumAttempts === 0 ? ATTEMPTS_MAX : retry.maximumAttempts
}
