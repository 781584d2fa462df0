// A set of recently seen keys bounded by count and by age: memory follows the recent rate of
// new keys, not the total ever seen. A cache that only a count bounds fills at any rate, however
// slowly, and then holds its whole capacity for good. Pure: the caller passes the time.

import { assert } from './assert.ts'

/** Recently added keys, oldest first; at most `max` of them, none older than `ttlMs` after the next add. */
export class RecentSet<K> {
  readonly #max: number
  readonly #ttlMs: number
  /** key → time added, in insertion order (the oldest first). */
  readonly #added = new Map<K, number>()

  constructor (options: { max: number, ttlMs: number }) {
    assert(Number.isSafeInteger(options.max) && options.max > 0, `RecentSet max must be a positive integer, got ${options.max}`)
    assert(options.ttlMs > 0, `RecentSet ttlMs must be positive, got ${options.ttlMs}`)
    this.#max = options.max
    this.#ttlMs = options.ttlMs
  }

  get size (): number { return this.#added.size }

  has (key: K): boolean { return this.#added.has(key) }

  /** Add (or refresh) `key` at `nowMs`, first forgetting keys past the count or the age bound. */
  add (key: K, nowMs: number): void {
    this.#added.delete(key)
    for (const [oldest, atMs] of this.#added) {
      if (this.#added.size < this.#max && nowMs - atMs < this.#ttlMs) break
      this.#added.delete(oldest)
    }
    this.#added.set(key, nowMs)
  }
}
