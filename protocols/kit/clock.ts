// The time port: a monotonic clock, the wall clock and timers. The node supplies the process's
// clocks (`systemClock`); the simulator supplies a virtual clock it advances itself, so drivers run
// unchanged under simulation. Leases and deadlines use `nowMs` (monotonic), never the wall clock.

/** A cancellable timer. */
export interface TimerHandle { cancel (): void }

/** Clocks and timers of one node. */
export interface Clock {
  /** Monotonic milliseconds: never steps back, not comparable across processes. */
  nowMs (): number
  /** Wall-clock milliseconds since the epoch: may step; for timestamps shown to people and for HLCs. */
  wallMs (): number
  /** Call `fn` once after `ms`. */
  setTimeout (fn: () => void, ms: number): TimerHandle
  /** Call `fn` every `ms` until cancelled. */
  setInterval (fn: () => void, ms: number): TimerHandle
}

/** The process's clocks: `performance.now()` (monotonic), `Date.now()` and Node's timers. */
export const systemClock: Clock = Object.freeze({
  nowMs: () => performance.now(),
  wallMs: () => Date.now(),
  setTimeout (fn: () => void, ms: number): TimerHandle {
    const t = setTimeout(fn, ms)
    return { cancel: () => { clearTimeout(t) } }
  },
  setInterval (fn: () => void, ms: number): TimerHandle {
    const t = setInterval(fn, ms)
    return { cancel: () => { clearInterval(t) } }
  }
})

/** Resolve after `ms` on `clock`, or reject with the signal's reason when it aborts first. */
export async function sleep (clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted()
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => { timer.cancel(); reject(signal!.reason) }
    const timer = clock.setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
