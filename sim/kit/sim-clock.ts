// A virtual clock for deterministic simulation: one ordered timer queue (by time, then by
// insertion) that the simulator advances itself, and per-process `Clock` views on it with their
// own rate (clock skew) whose timers all die with the process (crash). Drivers written against
// protocols/kit/clock.ts run on it unchanged.

import type { Clock, TimerHandle } from '../../protocols/kit/clock.ts'
import { EventQueue } from './event-queue.ts'

/** Wall-clock origin of simulated time (2026-01-01T00:00:00Z): wallMs() values look like dates. */
const WALL_EPOCH_MS = 1_767_225_600_000

interface Timer { fn: () => void, cancelled: boolean }

/** Simulated time for a whole simulated world. */
export class SimClock {
  readonly #queue = new EventQueue<Timer>()
  #nowMs = 0

  /** Current virtual time in ms (the world's true time). */
  get nowMs (): number { return this.#nowMs }

  /** Run `fn` at virtual time `atMs` (not before now); events at equal times run in the order scheduled. */
  at (atMs: number, fn: () => void): TimerHandle {
    const timer: Timer = { fn, cancelled: false }
    this.#queue.push(Math.max(this.#nowMs, atMs), timer)
    return { cancel: () => { timer.cancelled = true } }
  }

  /** Run `fn` after `ms` of virtual time. */
  after (ms: number, fn: () => void): TimerHandle { return this.at(this.#nowMs + ms, fn) }

  /** Time of the next pending event (Infinity when none). */
  nextAtMs (): number { return this.#queue.peekTime() }

  /** Advance to the next event at or before `untilMs` and run it; false when there is none. */
  step (untilMs: number): boolean {
    if (this.#queue.peekTime() > untilMs) return false
    const ev = this.#queue.pop()!
    this.#nowMs = ev.at
    if (!ev.value.cancelled) ev.value.fn()
    return true
  }

  /** Move time to `atMs` without running anything (the caller ran every event before it). */
  advanceTo (atMs: number): void { this.#nowMs = Math.max(this.#nowMs, atMs) }

  /**
   * A process's clock: its durations last `rate` times as long in world time (rate 1.1 runs 10%
   * slow), its monotonic time starts at 0, and kill() cancels every timer it set.
   */
  view (options: { rate?: number } = {}): ProcessClock { return new ProcessClock(this, options.rate ?? 1) }
}

/** The clock of one simulated process incarnation. */
export class ProcessClock implements Clock {
  readonly rate: number
  readonly #world: SimClock
  readonly #startMs: number
  readonly #timers = new Set<TimerHandle>()
  #alive = true

  constructor (world: SimClock, rate: number) {
    this.#world = world
    this.rate = rate
    this.#startMs = world.nowMs
  }

  get alive (): boolean { return this.#alive }

  nowMs (): number { return (this.#world.nowMs - this.#startMs) / this.rate }
  wallMs (): number { return WALL_EPOCH_MS + Math.round(this.#world.nowMs / this.rate) }

  setTimeout (fn: () => void, ms: number): TimerHandle {
    if (!this.#alive) return { cancel: () => {} }
    let inner: TimerHandle | null = null
    const handle: TimerHandle = { cancel: () => { inner?.cancel(); this.#timers.delete(handle) } }
    inner = this.#world.after(this.#worldMs(ms), () => { this.#timers.delete(handle); if (this.#alive) fn() })
    this.#timers.add(handle)
    return handle
  }

  setInterval (fn: () => void, ms: number): TimerHandle {
    if (!this.#alive) return { cancel: () => {} }
    const periodMs = Math.max(1, this.#worldMs(ms))
    let inner: TimerHandle | null = null
    let cancelled = false
    const handle: TimerHandle = { cancel: () => { cancelled = true; inner?.cancel(); this.#timers.delete(handle) } }
    const fire = (): void => {
      if (cancelled || !this.#alive) return
      inner = this.#world.after(periodMs, fire)
      fn()
    }
    inner = this.#world.after(periodMs, fire)
    this.#timers.add(handle)
    return handle
  }

  /** The process died: none of its timers fires again, and it sets no new ones. */
  kill (): void {
    this.#alive = false
    for (const t of [...this.#timers]) t.cancel()
    this.#timers.clear()
  }

  /** Whole world milliseconds for `ms` of this process's time. */
  #worldMs (ms: number): number { return Math.max(0, Math.round(ms * this.rate)) }
}

/**
 * Let every pending promise continuation run (drivers await storage and chain microtasks): a
 * macrotask turn runs only after the microtask queue is empty. Nothing else in a simulation uses
 * real timers or I/O, so this keeps runs deterministic.
 */
export async function settle (): Promise<void> {
  await new Promise<void>((resolve) => { setImmediate(resolve) })
}
