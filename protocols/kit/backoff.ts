// One exponential backoff for every retry loop (redials, restarts, task retries): the delay
// doubles (or grows by `factor`) from `initialMs` up to `maxMs`. Jitter is drawn from the caller's
// rng, so pure cores stay deterministic.

/** Backoff parameters. */
export interface BackoffOptions {
  initialMs: number
  maxMs: number
  /** Growth per failure (default 2). */
  factor?: number
  /** Fraction of each delay drawn at random, 0..1 (default 0: no jitter). */
  jitter?: number
}

/** The delay before retry number `attempt` (1 = first retry); `random` in [0, 1). */
export function backoffDelayMs (attempt: number, options: BackoffOptions, random = 0): number {
  const factor = options.factor ?? 2
  const base = Math.min(options.maxMs, options.initialMs * factor ** Math.max(0, attempt - 1))
  const jitter = Math.min(1, Math.max(0, options.jitter ?? 0))
  return Math.round(base * (1 - jitter + jitter * random))
}

/** A failure counter over `backoffDelayMs`: `next()` after a failure, `reset()` after a success. */
export class Backoff {
  readonly #options: BackoffOptions
  #attempt = 0

  constructor (options: BackoffOptions) { this.#options = options }

  /** The delay before the next try, and count the failure. */
  next (random = 0): number { this.#attempt++; return backoffDelayMs(this.#attempt, this.#options, random) }
  /** Failures since the last success. */
  get attempt (): number { return this.#attempt }
  reset (): void { this.#attempt = 0 }
}
