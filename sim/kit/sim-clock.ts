// A virtual clock for deterministic simulations: implements the Clock port (protocols/kit/clock.ts)
// with time that moves only when the simulator runs it. Timers fire in (due time, creation order);
// after each instant every promise continuation settles before time moves on, so async drivers
// (awaiting a simulated disk) run exactly as on a real event loop, but reproducibly.

import type { Clock, TimerHandle } from '../../protocols/kit/clock.ts'
import { assert } from '../../protocols/kit/assert.ts'

/** Wall-clock time at virtual 0 (2026-01-01T00:00:00Z): fixed, so traces are the same on every run. */
export const SIM_EPOCH_MS = Date.UTC(2026, 0, 1)

interface Timer { at: number, seq: number, fn: () => void, intervalMs: number | null, cancelled: boolean }

/** A clock view whose timers can all be cancelled at once (a crashed process loses its timers). */
export interface SimClockView extends Clock {
  /** Cancel every timer set through this view; later calls set no timers. */
  halt (): void
}

/** Virtual time shared by every simulated node of one run. */
export class SimClock implements Clock {
  #now = 0
  #seq = 0
  #heap: Timer[] = []

  nowMs (): number { return this.#now }
  wallMs (): number { return SIM_EPOCH_MS + this.#now }

  setTimeout (fn: () => void, ms: number): TimerHandle { return this.#add(fn, ms, null) }

  setInterval (fn: () => void, ms: number): TimerHandle {
    assert(ms > 0, 'a simulated interval is longer than 0 ms')
    return this.#add(fn, ms, ms)
  }

  /** A view for one node incarnation: same time, timers it can drop on a crash. */
  view (): SimClockView {
    const live = new Set<TimerHandle>()
    let halted = false
    const track = (set: (forget: () => void) => TimerHandle): TimerHandle => {
      if (halted) return { cancel: () => {} }
      const handle = set(() => { live.delete(handle) })
      live.add(handle)
      return { cancel: () => { live.delete(handle); handle.cancel() } }
    }
    return {
      nowMs: () => this.#now,
      wallMs: () => this.wallMs(),
      setTimeout: (fn, ms) => track(forget => this.setTimeout(() => { forget(); fn() }, ms)),
      setInterval: (fn, ms) => track(() => this.setInterval(fn, ms)),
      halt: () => {
        halted = true
        for (const handle of live) handle.cancel()
        live.clear()
      }
    }
  }

  /** Due time of the next live timer, or undefined when none is left. */
  nextAt (): number | undefined {
    while (this.#heap.length > 0 && this.#heap[0]!.cancelled) this.#pop()
    return this.#heap[0]?.at
  }

  /**
   * Advance to the next instant that has a timer (never past `untilMs`), fire every timer due
   * then in order, and let promise continuations settle. False when nothing was due.
   */
  async runNext (untilMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    const at = this.nextAt()
    if (at === undefined || at > untilMs) return false
    this.#now = at
    // Timers set for this same instant while it runs (a 0 ms delay) fire in it too.
    while (this.nextAt() === at) {
      while (this.nextAt() === at) {
        const timer = this.#pop()
        if (timer.intervalMs !== null) { timer.at += timer.intervalMs; timer.seq = this.#seq++; this.#push(timer) }
        timer.fn()
      }
      await settle()
    }
    return true
  }

  /** Run instants until `untilMs` (time ends there) or until `stop()` holds after an instant. */
  async runUntil (untilMs: number, stop?: () => boolean): Promise<void> {
    while (stop?.() !== true && await this.runNext(untilMs)) { /* one instant per pass */ }
    if (stop?.() !== true) this.#now = Math.max(this.#now, untilMs)
  }

  #add (fn: () => void, ms: number, intervalMs: number | null): TimerHandle {
    const timer: Timer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn, intervalMs, cancelled: false }
    this.#push(timer)
    return { cancel: () => { timer.cancelled = true } }
  }

  // A binary min-heap on (at, seq).
  #push (timer: Timer): void {
    const heap = this.#heap
    heap.push(timer)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(heap[i]!, heap[parent]!)) break
      ;[heap[i], heap[parent]] = [heap[parent]!, heap[i]!]
      i = parent
    }
  }

  #pop (): Timer {
    const heap = this.#heap
    const top = heap[0]!
    const last = heap.pop()!
    if (heap.length > 0) {
      heap[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < heap.length && before(heap[l]!, heap[m]!)) m = l
        if (r < heap.length && before(heap[r]!, heap[m]!)) m = r
        if (m === i) break
        ;[heap[i], heap[m]] = [heap[m]!, heap[i]!]
        i = m
      }
    }
    return top
  }
}

function before (a: Timer, b: Timer): boolean { return a.at < b.at || (a.at === b.at && a.seq < b.seq) }

/** Let every queued promise continuation run (the microtask queue drains before a macrotask). */
export async function settle (): Promise<void> {
  await new Promise<void>(resolve => { setImmediate(resolve) })
}
