// A virtual clock for deterministic simulations: implements the Clock port (protocols/kit/clock.ts)
// with time that moves only when the simulator runs it. Timers fire in (due time, creation order).
// A simulator either runs whole instants (runNext/runUntil: after each instant every promise
// continuation settles before time moves on) or single events (step, then its own settle()). Per
// process views have their own rate (clock skew) and lose every timer when the process dies, so
// drivers written against the Clock port run on it unchanged, exactly as on a real event loop, but
// reproducibly.

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

  /** Run `fn` at virtual time `atMs` (not before now); events at equal times run in the order scheduled. */
  at (atMs: number, fn: () => void): TimerHandle { return this.setTimeout(fn, atMs - this.#now) }

  /** Run `fn` after `ms` of virtual time. */
  after (ms: number, fn: () => void): TimerHandle { return this.setTimeout(fn, ms) }

  /**
   * A process incarnation's clock: its durations last `rate` times as long in world time (rate 1.1
   * runs 10% slow), and halt() (a crash) cancels every timer it set.
   */
  view (options: { rate?: number } = {}): ProcessClock { return new ProcessClock(this, options.rate ?? 1) }

  /** Due time of the next live timer, or undefined when none is left. */
  nextAt (): number | undefined {
    while (this.#heap.length > 0 && this.#heap[0]!.cancelled) this.#pop()
    return this.#heap[0]?.at
  }

  /** Time of the next live timer (Infinity when none). */
  nextAtMs (): number { return this.nextAt() ?? Number.POSITIVE_INFINITY }

  /** Run the next live timer due at or before `untilMs`, moving time to it; false when there is none. The caller settles. */
  step (untilMs: number): boolean {
    const at = this.nextAt()
    if (at === undefined || at > untilMs) return false
    this.#now = at
    const timer = this.#pop()
    if (timer.intervalMs !== null) { timer.at += timer.intervalMs; timer.seq = this.#seq++; this.#push(timer) }
    timer.fn()
    return true
  }

  /** Move time to `atMs` without running anything (the caller ran every timer before it). */
  advanceTo (atMs: number): void { this.#now = Math.max(this.#now, atMs) }

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

/** The clock of one simulated process incarnation (a SimClockView). */
export class ProcessClock implements SimClockView {
  readonly rate: number
  readonly #world: SimClock
  readonly #startMs: number
  readonly #timers = new Set<TimerHandle>()
  #alive = true
  /** Paused (SIGSTOP): timeouts that come due wait, intervals that come due fire once on thaw. */
  #frozen = false
  #due: Array<() => void> = []
  readonly #dueIntervals = new Set<() => void>()

  constructor (world: SimClock, rate: number) {
    assert(rate > 0, 'a simulated clock rate is positive')
    this.#world = world
    this.rate = rate
    this.#startMs = world.nowMs()
  }

  get alive (): boolean { return this.#alive }

  // Monotonic time of this process: world time at its start, then its own rate.
  nowMs (): number { return this.#startMs + (this.#world.nowMs() - this.#startMs) / this.rate }
  wallMs (): number { return SIM_EPOCH_MS + Math.round(this.#world.nowMs() / this.rate) }

  setTimeout (fn: () => void, ms: number): TimerHandle {
    if (!this.#alive) return { cancel: () => {} }
    let inner: TimerHandle | null = null
    const handle: TimerHandle = { cancel: () => { inner?.cancel(); this.#timers.delete(handle) } }
    inner = this.#world.setTimeout(() => {
      this.#timers.delete(handle)
      if (!this.#alive) return
      if (this.#frozen) this.#due.push(fn); else fn()
    }, this.#worldMs(ms))
    this.#timers.add(handle)
    return handle
  }

  setInterval (fn: () => void, ms: number): TimerHandle {
    assert(ms > 0, 'a simulated interval is longer than 0 ms')
    if (!this.#alive) return { cancel: () => {} }
    const inner = this.#world.setInterval(() => {
      if (!this.#alive) return
      if (this.#frozen) this.#dueIntervals.add(fn); else fn()
    }, Math.max(1, this.#worldMs(ms)))
    const handle: TimerHandle = { cancel: () => { inner.cancel(); this.#timers.delete(handle); this.#dueIntervals.delete(fn) } }
    this.#timers.add(handle)
    return handle
  }

  /**
   * Pause the process (SIGSTOP): none of its timers fires until `thaw`. Its clock keeps running,
   * as a paused process's monotonic clock does.
   */
  freeze (): void { this.#frozen = true }

  /**
   * Resume it (SIGCONT): the timeouts that came due fire in order, and each interval that came due
   * fires once (as Node does for a late interval), in the same turn.
   */
  thaw (): void {
    if (!this.#frozen) return
    this.#frozen = false
    const due = this.#due
    this.#due = []
    const intervals = [...this.#dueIntervals]
    this.#dueIntervals.clear()
    for (const fn of [...due, ...intervals]) if (this.#alive) fn()
  }

  /** The process died: none of its timers fires again, and it sets no new ones. */
  halt (): void {
    this.#alive = false
    for (const t of [...this.#timers]) t.cancel()
    this.#timers.clear()
    this.#due = []
    this.#dueIntervals.clear()
  }

  /** Same as halt(). */
  kill (): void { this.halt() }

  /** Whole world milliseconds for `ms` of this process's time. */
  #worldMs (ms: number): number { return Math.max(0, Math.round(ms * this.rate)) }
}

function before (a: Timer, b: Timer): boolean { return a.at < b.at || (a.at === b.at && a.seq < b.seq) }

/** Let every queued promise continuation run (the microtask queue drains before a macrotask). */
export async function settle (): Promise<void> {
  await new Promise<void>(resolve => { setImmediate(resolve) })
}
