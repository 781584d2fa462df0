// Token buckets keyed by peer or author: a steady rate with a burst, refilled from the time the
// caller passes in (pure: no clock of its own). The map of buckets is bounded; the least
// recently used one is dropped first (it refills to full anyway when it returns).

import { assert } from './assert.ts'

/** Rate and burst of one family of buckets. */
export interface TokenBucketLimits { perSecond: number, burst: number, keysMax: number }

interface Bucket { tokens: number, atMs: number }

/** Buckets per key; `take` spends one token if there is one. */
export class TokenBuckets {
  readonly #limits: TokenBucketLimits
  readonly #buckets = new Map<string, Bucket>()

  constructor (limits: TokenBucketLimits) {
    assert(limits.perSecond > 0 && limits.burst >= 1 && limits.keysMax >= 1, 'token bucket limits are positive')
    this.#limits = limits
  }

  /** Spend one token of `key` at `nowMs`; false when its bucket is empty. */
  take (key: string, nowMs: number): boolean {
    let b = this.#buckets.get(key)
    if (b === undefined) {
      b = { tokens: this.#limits.burst, atMs: nowMs }
      if (this.#buckets.size >= this.#limits.keysMax) this.#buckets.delete(this.#buckets.keys().next().value!)
    } else {
      this.#buckets.delete(key) // re-insert: most recently used last
      b.tokens = Math.min(this.#limits.burst, b.tokens + Math.max(0, nowMs - b.atMs) * this.#limits.perSecond / 1000)
      b.atMs = Math.max(b.atMs, nowMs)
    }
    this.#buckets.set(key, b)
    if (b.tokens < 1) return false
    b.tokens--
    return true
  }

  /** Buckets held (at most keysMax). */
  get size (): number { return this.#buckets.size }
}
