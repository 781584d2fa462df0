// Server-Sent Events for the API's streams: a budget of open streams, keep-alive comments, and
// the resume point a reconnecting client sends in `Last-Event-ID`.

import { ApiError } from './errors.ts'

/** Open SSE streams at once: each holds a subscription and a socket; 64 local agents is plenty. */
export const SSE_CLIENTS_MAX = 64
/** A comment line this often keeps idle streams from being cut by client read timeouts. */
export const SSE_KEEPALIVE_MS = 15_000

/** Counts open streams against SSE_CLIENTS_MAX. */
export class SseBudget {
  #open = 0
  get open (): number { return this.#open }

  /** Take one slot or throw 429; the returned function gives it back (once). */
  acquire (): () => void {
    if (this.#open >= SSE_CLIENTS_MAX) throw new ApiError(429, 'ERR_TOO_MANY_STREAMS', `${this.#open} streams are open; at most SSE_CLIENTS_MAX (${SSE_CLIENTS_MAX}): close one first`)
    this.#open++
    let released = false
    return () => {
      if (released) return
      released = true
      this.#open--
    }
  }
}

/** The resume point: the `Last-Event-ID` header wins over a query parameter (what a reconnecting EventSource sends). */
export function resumeFrom (lastEventId: string | undefined, query: string | undefined): string | undefined {
  const header = lastEventId?.trim()
  return header !== undefined && header !== '' ? header : query
}

/** What sseLifetime needs of a Hono SSE stream. */
interface SseStreamLike { onAbort (listener: () => void): void, write (text: string): Promise<unknown> }

/**
 * One open stream's lifetime: `signal` aborts when the client goes away, the server closes or `stop()` is called;
 * with `keepAlive`, a comment every SSE_KEEPALIVE_MS keeps an idle stream open. `end()` (call it
 * in `finally`) stops both and gives the stream's slot back through `release`.
 */
export function sseLifetime (stream: SseStreamLike, closing: AbortSignal, release: () => void, options: { keepAlive?: boolean } = {}): { signal: AbortSignal, stop: () => void, end: () => void } {
  const done = new AbortController()
  const stop = (): void => { done.abort() }
  closing.addEventListener('abort', stop, { once: true })
  stream.onAbort(stop)
  const timer = options.keepAlive === true ? setInterval(() => { void stream.write(': keep-alive\n\n') }, SSE_KEEPALIVE_MS) : undefined
  return {
    signal: done.signal,
    stop,
    end: () => {
      clearInterval(timer)
      closing.removeEventListener('abort', stop)
      release()
    }
  }
}
