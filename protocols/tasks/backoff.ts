// Retry delays (Temporal's formula) with jitter drawn from a hash of (task id, attempt): the
// machine may not call Math.random, and every replica must compute the same delay.

import { backoffDelayMs } from '../kit/backoff.ts'
import type { RetryPolicy } from './messages.ts'

/** A number in [0, 1) from a 32-bit FNV-1a hash of `taskId/attempt`: the same on every replica. */
export function jitterFraction (taskId: string, attempt: number): number {
  let hash = 0x811c9dc5
  const text = `${taskId}/${attempt}`
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash / 0x1_0000_0000
}

/**
 * Delay before the attempt after `failedAttempt` (1 = the first attempt failed):
 * min(initial · coefficient^(failedAttempt−1), maximum), of which a `jitter` fraction is drawn.
 * Jitter only shortens a delay, so a delay is never above the maximum.
 */
export function retryDelayMs (retry: RetryPolicy, context: { taskId: string, failedAttempt: number }): number {
  return backoffDelayMs(context.failedAttempt, {
    initialMs: retry.initialIntervalMs,
    maxMs: retry.maximumIntervalMs,
    factor: retry.backoffCoefficient,
    jitter: retry.jitter
  }, jitterFraction(context.taskId, context.failedAttempt))
}

/** The smallest delay `retryDelayMs` can give for this attempt (what the checker holds retries to). */
export function retryDelayFloorMs (retry: RetryPolicy, failedAttempt: number): number {
  return backoffDelayMs(failedAttempt, { initialMs: retry.initialIntervalMs, maxMs: retry.maximumIntervalMs, factor: retry.backoffCoefficient, jitter: retry.jitter }, 0)
}
