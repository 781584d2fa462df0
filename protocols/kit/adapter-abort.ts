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

/**
 * Default wait for a peer to close its side of a served stream after the answer (5 s): an honest
 * peer closes as soon as it has read the answer; 5 s covers an event loop stalled on a loaded machine.
 */
export const STREAM_CLOSE_LINGER_MS = 5_000

/** What closeServedStream needs of a libp2p stream. */
export interface ServedStream extends EventTarget {
  readonly status: string
  readonly remoteWriteStatus: string
  close (options?: { signal?: AbortSignal }): Promise<void>
  abort (err: Error): void
}

/**
 * Close our side of a stream this node served, then give the peer `lingerMs` to close its side,
 * and abort the stream if it has not. close() only ends our writes: a peer that stopped sending
 * mid-frame never closes, and the stream, with its slot under the protocol's inbound stream
 * limit, would stay open until the muxer's idle timeout (minutes).
 */
export async function closeServedStream (stream: ServedStream, options: { lingerMs?: number, what: string }): Promise<void> {
  const lingerMs = options.lingerMs ?? STREAM_CLOSE_LINGER_MS
  const signal = AbortSignal.timeout(lingerMs)
  try {
    await stream.close({ signal })
    if (stream.status === 'open' && stream.remoteWriteStatus !== 'closed') {
      await new Promise<void>((resolve, reject) => {
        const done = (): void => { signal.removeEventListener('abort', timedOut); resolve() }
        const timedOut = (): void => { stream.removeEventListener('close', done); reject(signal.reason) }
        stream.addEventListener('close', done, { once: true })
        signal.addEventListener('abort', timedOut, { once: true })
      })
    }
  } catch (err) {
    stream.abort(new TimeoutError(`${options.what}: the peer did not close its side within ${lingerMs} ms`, { cause: err }))
  }
}
