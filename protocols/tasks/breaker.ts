// A per-worker circuit breaker in Resilience4j's terms (count-based sliding window), as plain
// replicated data: transitions happen only on recorded outcomes and on the replicated clock.

import type { BreakerPolicy } from './policy.ts'

/** closed: calls flow; open: no calls until the wait is over; half-open: a few trial calls. */
export type BreakerStateName = 'closed' | 'open' | 'half-open'

/** A worker's breaker; part of the snapshot. */
export interface Breaker {
  state: BreakerStateName
  /** Last outcomes, oldest first, true = failure; at most `slidingWindowSize` (closed) or the trial calls (half-open). */
  window: boolean[]
  /** When the breaker last opened (replicated clock). */
  openedAtMs: number
  /** Trial calls handed out while half-open. */
  trialCalls: number
}

/** A fresh, closed breaker. */
export function closedBreaker (): Breaker { return { state: 'closed', window: [], openedAtMs: 0, trialCalls: 0 } }

/** Move an open breaker to half-open once its wait is over (Resilience4j's transition on the next call). */
export function refreshBreaker (b: Breaker, policy: BreakerPolicy, nowMs: number): void {
  if (b.state === 'open' && nowMs >= b.openedAtMs + policy.waitDurationInOpenStateMs) {
    b.state = 'half-open'
    b.window = []
    b.trialCalls = 0
  }
}

/** Whether the worker may take one more call now. */
export function breakerPermits (b: Breaker, policy: BreakerPolicy, nowMs: number): boolean {
  refreshBreaker(b, policy, nowMs)
  if (b.state === 'closed') return true
  if (b.state === 'half-open') return b.trialCalls < policy.permittedNumberOfCallsInHalfOpenState
  return false
}

/** Count a call handed to the worker (only half-open counts its trials). */
export function breakerCallStarted (b: Breaker): void {
  if (b.state === 'half-open') b.trialCalls++
}

/** Record an outcome; opens or closes the breaker per the failure rate. */
export function recordOutcome (b: Breaker, policy: BreakerPolicy, outcome: { failed: boolean, nowMs: number }): void {
  refreshBreaker(b, policy, outcome.nowMs)
  if (b.state === 'open') return // a late outcome from before the breaker opened does not count
  b.window.push(outcome.failed)
  if (b.state === 'closed') {
    if (b.window.length > policy.slidingWindowSize) b.window.shift()
    if (b.window.length >= policy.minimumNumberOfCalls && failureRate(b) >= policy.failureRateThreshold) open(b, outcome.nowMs)
    return
  }
  // half-open: decide once the permitted trial calls have all reported
  if (b.window.length >= policy.permittedNumberOfCallsInHalfOpenState) {
    if (failureRate(b) >= policy.failureRateThreshold) open(b, outcome.nowMs)
    else { b.state = 'closed'; b.window = []; b.trialCalls = 0 }
  }
}

/** Percent of failures in the window. */
export function failureRate (b: Breaker): number {
  if (b.window.length === 0) return 0
  return 100 * b.window.filter(Boolean).length / b.window.length
}

function open (b: Breaker, nowMs: number): void {
  b.state = 'open'
  b.openedAtMs = nowMs
  b.window = []
  b.trialCalls = 0
}
