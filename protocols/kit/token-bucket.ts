// Token buckets: a rate limit with a burst allowance, per key. Pure: time comes in as `nowMs`
// (any monotonic clock), so the same calls always give the same answers.

import { assert } from './assert.ts'

/** A bucket holds up to `capacity` tokens and gains `refillPerS` a second; each action takes one. */
export interface TokenBucketLimits { capacity: number, refillPerS: number }

/** Throw a TypeError naming the field unless `limits` is usable. */
export function checkTokenBucketLimits (limits: TokenBucketLimits): void {
  if (!(Number.isFinite(limits.capacity) && limits.capacity >= 1)) throw new TypeError(`Invalid token bucket capacity: expected a number >= 1, got ${String(limits.capacity)}`)
  if (!(Number.isFinite(limits.refillPerS) && limits.refillPerS > 0)) throw new TypeError(`Invalid token bucket refillPerS: expected a positive number, got ${String(limits.refillPerS)}`)
}

/** One bucket; starts full. */
export class TokenBucket {
  readonly limits: Readonly<TokenBucketLimits>
  #tokens: number
  #updatedMs: number

  constructor (limits: TokenBucketLimits, nowMs: number) {
    checkTokenBucketLimits(limits)
    assert(Number.isFinite(nowMs), 'nowMs is a finite number')
    this.limits = Object.freeze({ ...limits })
    this.#tokens = limits.capacity
    this.#updatedMs = nowMs
  }

  /** Tokens available at `nowMs` (fractional while refilling). */
  available (nowMs: number): number {
    this.#refill(nowMs)
    return this.#tokens
  }

  /** Take one token if there is one: true if the action may go ahead. */
  take (nowMs: number): boolean {
    this.#refill(nowMs)
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }

  #refill (nowMs: number): void {
    assert(Number.isFinite(nowMs), 'nowMs is a finite number')
    // A clock read before an earlier one (two callers racing) adds nothing rather than failing.
    if (nowMs <= this.#updatedMs) return
    this.#tokens = Math.min(this.limits.capacity, this.#tokens + (nowMs - this.#updatedMs) * this.limits.refillPerS / 1000)
    this.#updatedMs = nowMs
  }
}

/**
 * One bucket per key (a peer id), at most `keysMax` of them. A full bucket is the same as a
 * fresh one, so when the map is at its bound the key with the most tokens left (the least
 * active) is forgotten: it can regain at most the tokens it was missing.
 */
export class KeyedTokenBuckets {
  readonly limits: Readonly<TokenBucketLimits>
  readonly keysMax: number
  readonly #buckets = new Map<string, TokenBucket>()

  constructor (limits: TokenBucketLimits, options: { keysMax: number }) {
    checkTokenBucketLimits(limits)
    if (!(Number.isInteger(options.keysMax) && options.keysMax >= 1)) throw new TypeError(`Invalid token bucket keysMax: expected a positive integer, got ${String(options.keysMax)}`)
    this.limits = Object.freeze({ ...limits })
    this.keysMax = options.keysMax
  }

  /** Take one of `key`'s tokens at `nowMs`: true if the action may go ahead. */
  take (key: string, nowMs: number): boolean {
    let bucket = this.#buckets.get(key)
    if (bucket === undefined) {
      if (this.#buckets.size >= this.keysMax) this.#forgetIdlest(nowMs)
      bucket = new TokenBucket(this.limits, nowMs)
      this.#buckets.set(key, bucket)
    }
    return bucket.take(nowMs)
  }

  /** Tokens `key` has at `nowMs` (capacity for a key not tracked). */
  available (key: string, nowMs: number): number {
    return this.#buckets.get(key)?.available(nowMs) ?? this.limits.capacity
  }

  /** Keys tracked right now. */
  get size (): number { return this.#buckets.size }

  #forgetIdlest (nowMs: number): void {
    let idlest: string | undefined
    let most = -1
    for (const [key, bucket] of this.#buckets) {
      const tokens = bucket.available(nowMs)
      if (tokens > most) { idlest = key; most = tokens }
    }
    if (idlest !== undefined) this.#buckets.delete(idlest)
  }
}
