// When to restart a crashed `--exec` child, and when to give up: exponential backoff over the
// crashes in a sliding window, and a crash-loop breaker. Pure: the supervisor passes the times.

import { backoffDelayMs } from '../../protocols/kit/backoff.ts'
import type { BackoffOptions } from '../../protocols/kit/backoff.ts'

/** Restart policy for a crashing child. */
export interface RestartPolicy {
  /** Delay before restart n: from 1 s, doubling, at most 60 s (systemd's and execa's order of magnitude). */
  backoff: BackoffOptions
  /** The breaker opens at this many crashes within `windowMs`: 5, so a flaky child gets four restarts. */
  crashesMax: number
  /** Crashes older than this are forgotten, and the backoff with them: 60 s. */
  windowMs: number
}

/** Defaults: 1 s doubling to 60 s; 5 crashes in 60 s stop the child. */
export const DEFAULT_RESTART_POLICY: RestartPolicy = Object.freeze({
  backoff: Object.freeze({ initialMs: 1000, maxMs: 60_000 }),
  crashesMax: 5,
  windowMs: 60_000
})

/** What to do after a crash. */
export type RestartDecision =
  | { action: 'restart', delayMs: number, crashesInWindow: number }
  | { action: 'give-up', crashesInWindow: number, reason: string }

/** The crash times still inside the window at `nowMs` (monotonic ms), oldest first. */
export function crashesInWindow (crashTimesMs: readonly number[], nowMs: number, windowMs: number): number[] {
  return crashTimesMs.filter(t => nowMs - t < windowMs)
}

/** After a crash at `nowMs` (already in `crashTimesMs`): restart after a delay, or give up. */
export function decideRestart (crashTimesMs: readonly number[], nowMs: number, policy: RestartPolicy = DEFAULT_RESTART_POLICY): RestartDecision {
  const recent = crashesInWindow(crashTimesMs, nowMs, policy.windowMs).length
  if (recent >= policy.crashesMax) {
    return { action: 'give-up', crashesInWindow: recent, reason: `${recent} crashes within ${policy.windowMs} ms (crash-loop breaker: at most ${policy.crashesMax - 1} restarts per window)` }
  }
  return { action: 'restart', delayMs: backoffDelayMs(Math.max(1, recent), policy.backoff), crashesInWindow: recent }
}

/** Shutdown timings: stdin EOF, then SIGTERM after `graceMs`, then SIGKILL after `termMs` more. */
export interface ShutdownTimings {
  /** 5 s for the child to finish its tasks and exit on stdin EOF (execa's forceKillAfterDelay). */
  graceMs: number
  /** 2 s for SIGTERM handlers to clean up before SIGKILL, which cannot be caught. */
  termMs: number
}

export const DEFAULT_SHUTDOWN: ShutdownTimings = Object.freeze({ graceMs: 5000, termMs: 2000 })

/** Ready within 10 s of spawn, or the child is killed and counted as a crash: interpreters start in well under that. */
export const READY_TIMEOUT_MS = 10_000
