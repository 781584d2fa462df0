// How long an operation took, published on a node:diagnostics_channel for whoever measures
// (the API's /metrics turns it into histograms). Node's own http and undici report timings the
// same way: with no subscriber, a publish costs one boolean check.

import { channel } from 'node:diagnostics_channel'

/** Name of the channel that carries every `Timing`. */
export const TIMING_CHANNEL = 'agentmesh:timing'

/** The operations that report their latency. */
export type TimedOperation = 'state.put' | 'state.get' | 'raft.propose' | 'bft.decide'

/** One finished operation. `peerId` tells nodes sharing one process apart. */
export interface Timing {
  peerId: string
  operation: TimedOperation
  /** The raft or BFT group, for group operations. */
  group?: string
  seconds: number
  ok: boolean
}

const timings = channel(TIMING_CHANNEL)

/**
 * Run `fn` and publish how long it took (on the caller's clock), whether it resolved or threw.
 * With no subscriber it returns `fn()` itself: no extra await, so deterministic simulations
 * schedule exactly as without it.
 */
export function timed<T> (what: Omit<Timing, 'seconds' | 'ok'>, nowMs: () => number, fn: () => Promise<T>): Promise<T> {
  if (!timings.hasSubscribers) return fn()
  return measure(what, nowMs, fn)
}

async function measure<T> (what: Omit<Timing, 'seconds' | 'ok'>, nowMs: () => number, fn: () => Promise<T>): Promise<T> {
  const startMs = nowMs()
  let ok = false
  try {
    const result = await fn()
    ok = true
    return result
  } finally {
    timings.publish({ ...what, seconds: (nowMs() - startMs) / 1000, ok } satisfies Timing)
  }
}
