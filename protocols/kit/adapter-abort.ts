// Cancellation helpers for libp2p adapters: every await takes a signal, bounded by a timeout.

import { AbortedError, TimeoutError } from './errors.ts'

/** A signal that aborts when `signal` does or after `timeoutMs`, whichever is first. */
export function deadlineSignal (timeoutMs: number, signal?: AbortSignal): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs)
  return signal === undefined ? timeout : AbortSignal.any([signal, timeout])
}

/**
 * Translate an error raised under `deadlineSignal` into a typed error naming `what`:
 * TimeoutError when the deadline fired, AbortedError when the caller aborted, else unchanged.
 */
export function explainAbort (err: unknown, options: { what: string, timeoutMs: number, signal?: AbortSignal }): unknown {
  if (options.signal?.aborted === true) return new AbortedError(`${options.what} was aborted: ${String(options.signal.reason?.message ?? options.signal.reason)}`, { cause: err })
  const name = (err as Error | undefined)?.name
  if (name === 'TimeoutError' || name === 'AbortError') return new TimeoutError(`${options.what} timed out after ${options.timeoutMs} ms`, { cause: err })
  return err
}
